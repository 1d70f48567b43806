/**
 * A small tmpfs the test mounts (root only), to fill a disk on purpose. Unmounted and removed by
 * `unmount()`; a test that is not root is skipped (failed under CI) by the peers' policy.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requireRoot, type SkipContext } from './peers.js';

export interface Tmpfs {
  dir: string;
  unmount(): void;
}

export function mountTmpfs(ctx: SkipContext, sizeKiB: number): Tmpfs {
  requireRoot(ctx);
  const dir = mkdtempSync(path.join(tmpdir(), 'bw-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`mount -t tmpfs failed: ${r.stderr || r.error?.message}`);
  }
  let mounted = true;
  return {
    dir,
    unmount() {
      if (!mounted) return;
      mounted = false;
      spawnSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
