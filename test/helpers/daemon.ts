/**
 * Long-running programs (servers, relays) started inside a test's network namespace: each leads its own
 * process group, runs under `setpriv --pdeathsig KILL` (so it dies with the test process even on
 * SIGKILL), and is killed at exit whatever happens.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Netns } from './netns.js';
import { findBinary } from './peers.js';

const SETPRIV = findBinary('setpriv', 'util-linux');

/** Processes this file started (each leads its own process group); killed at exit whatever happens. */
const started = new Set<ChildProcess>();

/** Kills every daemon still running (for afterAll). */
export function killAllDaemons(): void {
  for (const p of started) killGroup(p, 'SIGKILL');
}
process.on('exit', () => {
  for (const p of started) killGroup(p, 'SIGKILL');
});

function killGroup(p: ChildProcess, signal: NodeJS.Signals): void {
  if (p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
  try {
    process.kill(-p.pid, signal);
  } catch {
    /* gone */
  }
}

export interface Daemon {
  proc: ChildProcess;
  out: () => string;
  stop: () => Promise<void>;
}

/**
 * Starts a long-running program inside `ns` (through setpriv --pdeathsig KILL, so it dies with the
 * test process even on SIGKILL) and waits until `isReady(output)` says so.
 */
export async function startDaemon(
  ns: Netns,
  what: string,
  cmd: string,
  args: string[],
  isReady: (out: string) => Promise<boolean>,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 15_000,
): Promise<Daemon> {
  const [c, a] = SETPRIV ? ns.argv(SETPRIV, ['--pdeathsig', 'KILL', '--', cmd, ...args]) : ns.argv(cmd, args);
  const proc = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
  started.add(proc);
  let out = '';
  let exitInfo: string | undefined;
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  proc.once('error', (e) => (exitInfo ??= e.message));
  const exited = new Promise<void>((r) =>
    proc.once('exit', (code, signal) => {
      exitInfo ??= `exited ${code ?? signal}`;
      started.delete(proc);
      r();
    }),
  );
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    killGroup(proc, 'SIGTERM');
    const t = setTimeout(() => killGroup(proc, 'SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  };
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (exitInfo !== undefined) throw new Error(`${what} ${exitInfo} before it was ready:\n${out}`);
      if (await isReady(out)) break;
      if (Date.now() > deadline) throw new Error(`${what} not ready within ${timeoutMs} ms:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { proc, out: () => out, stop };
}
