/**
 * Network namespaces for tests (root only; needs `ip` from iproute2).
 *
 *   const ns = await createNetns();          // `bw-<pid>-<random>`, with `lo` up (127.0.0.1, ::1)
 *   await ns.exec('curl', ['-sS', 'tftp://127.0.0.1/file', '-o', out], { timeoutMs: 10_000 });
 *   const [cmd, args] = ns.argv('dnsmasq', [...]);   // to spawn long-running programs yourself
 *   await ns.delete();
 *
 * Names are unique per call (pid + random), so test files running in parallel never collide.
 * Every namespace created here is deleted when the process exits (even if a test failed or forgot),
 * and `createNetns` first removes leftovers `bw-<pid>-*` of processes that no longer exist (e.g. a
 * test worker that was SIGKILLed). Deleting a namespace only unmounts its name: kill the processes
 * running inside it first (the dnsmasq peer in peers.ts does).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { run, type RunOptions, type RunResult } from './peers.js';

export const NETNS_PREFIX = 'bw';
const IP_TIMEOUT_MS = 10_000;

export interface Netns {
  readonly name: string;
  /** Run a command inside the namespace (`ip netns exec NAME cmd ...args`); see `run` in peers.ts. */
  exec(cmd: string, args: string[], opts?: Partial<RunOptions>): Promise<RunResult>;
  /** `[program, args]` that runs `cmd args` inside the namespace, for spawning it yourself. */
  argv(cmd: string, args: string[]): [string, string[]];
  /** Delete the namespace (idempotent). */
  delete(): Promise<void>;
}

const live = new Set<string>();

function ipSync(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: IP_TIMEOUT_MS });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

async function ip(args: string[]): Promise<string> {
  const r = await run('ip', args, { timeoutMs: IP_TIMEOUT_MS });
  if (r.code !== 0) {
    throw new Error(`ip ${args.join(' ')} failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
  }
  return r.stdout.toString('utf8');
}

/** Names of all namespaces currently mounted under /run/netns. */
export async function listNetns(): Promise<string[]> {
  const out = await ip(['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Delete `bw-<pid>-*` namespaces whose creating process is gone. Returns the names deleted. */
export async function cleanupStaleNetns(): Promise<string[]> {
  const re = new RegExp(`^${NETNS_PREFIX}-(\\d+)-[0-9a-f]+$`);
  const removed: string[] = [];
  for (const name of await listNetns()) {
    const m = re.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    if (ipSync(['netns', 'delete', name]).ok) removed.push(name);
  }
  return removed;
}

export async function deleteNetns(name: string): Promise<void> {
  live.delete(name);
  const r = await run('ip', ['netns', 'delete', name], { timeoutMs: IP_TIMEOUT_MS });
  if (r.code !== 0 && !/No such file|not exist/i.test(r.stderr)) {
    throw new Error(`ip netns delete ${name} failed: ${r.stderr.trim()}`);
  }
}

export function netnsArgv(name: string, cmd: string, args: string[]): [string, string[]] {
  return ['ip', ['netns', 'exec', name, cmd, ...args]];
}

/** Create a fresh namespace with `lo` up. */
export async function createNetns(): Promise<Netns> {
  await cleanupStaleNetns().catch(() => []);
  const name = `${NETNS_PREFIX}-${process.pid}-${randomBytes(4).toString('hex')}`;
  await ip(['netns', 'add', name]);
  live.add(name);
  try {
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (e) {
    await deleteNetns(name).catch(() => {});
    throw e;
  }
  return {
    name,
    exec: (cmd, args, opts) => {
      const [c, a] = netnsArgv(name, cmd, args);
      return run(c, a, opts);
    },
    argv: (cmd, args) => netnsArgv(name, cmd, args),
    delete: () => deleteNetns(name),
  };
}

process.on('exit', () => {
  for (const name of live) ipSync(['netns', 'delete', name]);
  live.clear();
});
