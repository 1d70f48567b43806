/**
 * CPU time and peak memory of a process from /proc (Linux), so servers written in any language are
 * measured alike: utime+stime, and VmHWM (peak resident set).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface ProcUsage {
  /** User + system CPU seconds, children that were waited for included (forking servers). */
  cpuSeconds: number;
  /** Peak resident set size in bytes (VmHWM). */
  peakRssBytes: number;
}

/** Undefined when the process is gone or /proc is not there. */
export function procUsage(pid: number): ProcUsage | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses): state is field 3.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); // utime stime cutime cstime
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    return { cpuSeconds: ticks / TICKS_PER_SECOND, peakRssBytes: hwm ? Number(hwm[1]) * 1024 : 0 };
  } catch {
    return undefined;
  }
}

/** This process's own CPU seconds (all threads: the simulator's workers included). */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * CPU time of a process and of every process it forks, from a control group of its own. /proc's
 * cutime counts only the children a process waits for: tftpd-hpa forks one child per transfer and
 * sets SIGCHLD to SIG_IGN (SA_NOCLDWAIT), so its transfers' CPU never reached its /proc figures and
 * it looked almost free. cgroup v1's cpuacct or cgroup v2's cpu.stat counts them all. Root only;
 * `open` gives undefined where neither can be created (the caller falls back to /proc).
 */
export class CpuGroup {
  private constructor(
    readonly dir: string,
    private readonly read: () => number,
  ) {}

  static open(name: string, base = '/sys/fs/cgroup'): CpuGroup | undefined {
    const kinds = [
      // cgroup v1: the cpuacct hierarchy, nanoseconds.
      {
        parent: path.join(base, 'cpuacct'),
        marker: 'cpuacct.usage',
        read: (dir: string) => Number(readFileSync(path.join(dir, 'cpuacct.usage'), 'utf8')) / 1e9,
      },
      // cgroup v2: the unified hierarchy, microseconds.
      {
        parent: base,
        marker: 'cgroup.controllers',
        read: (dir: string) =>
          Number(/^usage_usec (\d+)$/m.exec(readFileSync(path.join(dir, 'cpu.stat'), 'utf8'))?.[1]) / 1e6,
      },
    ];
    for (const k of kinds) {
      if (!existsSync(path.join(k.parent, k.marker))) continue;
      const dir = path.join(k.parent, name);
      try {
        mkdirSync(dir);
      } catch {
        continue;
      }
      const group = new CpuGroup(dir, () => k.read(dir));
      if (Number.isFinite(group.cpuSeconds())) return group;
      group.remove();
    }
    return undefined;
  }

  /** Moves `pid` into the group: everything it forks from now on is counted with it. */
  add(pid: number): boolean {
    try {
      writeFileSync(path.join(this.dir, 'cgroup.procs'), `${pid}\n`);
      return true;
    } catch {
      return false;
    }
  }

  cpuSeconds(): number {
    try {
      return this.read();
    } catch {
      return NaN;
    }
  }

  /** Removes the group once its processes are gone (a child may still be exiting: a few tries). */
  async removeWhenEmpty(): Promise<void> {
    for (let i = 0; i < 50; i++) {
      if (this.remove()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  remove(): boolean {
    try {
      rmdirSync(this.dir);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ENOENT';
    }
  }
}

/** SIGTERM, then SIGKILL if the process has not exited after `graceMs`; resolves once it has. */
export function stopChild(child: ChildProcess, graceMs = 8000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * CPU seconds of a server's processes so far: from a control group named `name` holding them (and all
 * they fork), or from /proc where no group can be made. `close` removes the group.
 */
export function serverCpu(
  name: string,
  servers: readonly { pid: number; usage(): ProcUsage | undefined }[],
): { cpuSeconds(): number; close(): Promise<void> } {
  let group = CpuGroup.open(name);
  if (group && !servers.every((x) => group!.add(x.pid))) {
    group.remove();
    group = undefined;
  }
  return {
    cpuSeconds: () => (group ? group.cpuSeconds() : servers.reduce((t, x) => t + (x.usage()?.cpuSeconds ?? NaN), 0)),
    close: async () => group?.removeWhenEmpty(),
  };
}

/** Runs a program that prints one JSON line last (a child storm), and returns that line parsed. */
export async function runJsonChild<T>(
  argv: string[],
  what: string,
  spawnIt: (cmd: string, args: string[]) => ChildProcess = (c, a) => spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] }),
): Promise<T> {
  const child = spawnIt(argv[0]!, argv.slice(1));
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  try {
    return JSON.parse(out.trim().split('\n').pop() ?? '') as T;
  } catch {
    throw new Error(`${what} exited with ${code}: ${err.trim() || out.trim()}`);
  }
}
