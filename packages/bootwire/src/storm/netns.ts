/**
 * Network namespaces for the storm's comparisons and sites (root): made with iproute2, always deleted.
 * Names carry the creating process's pid, so that namespaces left by a process that was killed are
 * recognised and removed by the next one.
 */
import { spawnSync } from 'node:child_process';

/** Runs `ip ARGS` (with `input` on stdin, for `-batch -`); throws with ip's own message. */
export function ip(args: string[], input?: string): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 20_000, ...(input !== undefined ? { input } : {}) });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
}

/** `ip netns exec NAME`: put before a command to run it inside. */
export const netnsPrefix = (name: string): string[] => ['ip', 'netns', 'exec', name];

/** A new namespace with its loopback up. */
export function addNamespace(name: string): void {
  ip(['netns', 'add', name]);
  try {
    ip(['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (e) {
    deleteNamespace(name);
    throw e;
  }
}

/** Kills what still runs inside (a daemon that forked keeps the namespace's devices alive), then deletes it. */
export function deleteNamespace(name: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout ?? '';
  for (const pid of pids.split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  spawnSync('ip', ['netns', 'del', name]);
}

/** Deletes namespaces `<prefix>-<pid>-…` whose process is gone. */
export function removeStaleNamespaces(prefix: string): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  const re = new RegExp(`^${prefix}-(\\d+)-`);
  for (const line of list.split('\n')) {
    const name = line.trim().split(/\s+/)[0] ?? '';
    const m = re.exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') spawnSync('ip', ['netns', 'del', name]);
    }
  }
}
