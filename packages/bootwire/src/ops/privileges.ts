/**
 * `serve --user NAME`: bind the privileged ports as root, then run as NAME. The files the server
 * keeps writing (the leases file and its WAL, the control socket) are given to NAME first; the
 * directory they are in must let NAME create and remove files (the WAL comes and goes), which is
 * checked as NAME right after the switch.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, constants, accessSync } from 'node:fs';
import path from 'node:path';

export interface Account {
  name: string;
  uid: number;
  gid: number;
}

/** The account NAME (through NSS: getent passwd), or an Error saying why not. */
export function lookupAccount(name: string): Account {
  let line: string;
  try {
    line =
      execFileSync('getent', ['passwd', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(
        '\n',
      )[0] ?? '';
  } catch {
    throw new Error(`no user named ${JSON.stringify(name)}`);
  }
  const f = line.split(':');
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (f.length < 4 || !Number.isInteger(uid) || !Number.isInteger(gid))
    throw new Error(`cannot read the account of ${JSON.stringify(name)}: ${line}`);
  return { name: f[0]!, uid, gid };
}

export const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Gives `files` that exist to the account (so it can keep writing them), then switches the whole
 * process (every thread) to it: supplementary groups, group, user. Irreversible.
 */
export function dropPrivileges(account: Account, files: string[]): void {
  for (const f of files) {
    try {
      chownSync(f, account.uid, account.gid);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new Error(
          `cannot give ${f} to ${account.name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
    }
  }
  // Supplementary groups first (node has initgroups on POSIX; @types/node leaves it out).
  (process as NodeJS.Process & { initgroups(user: string, extraGroup: number): void }).initgroups(
    account.name,
    account.gid,
  );
  process.setgid!(account.gid);
  process.setuid!(account.uid);
}

/** After the switch: can this process create and remove files in `dir`? An Error naming it if not. */
export function checkWritableDir(dir: string, what: string, account: Account): void {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw new Error(
      `${what} ${path.resolve(dir)} is not writable by ${account.name} (uid ${account.uid}): give it ` +
        `to that user (chown) or choose another directory`,
    );
  }
}
