/**
 * `bootwire init ROOT [--image-size SIZE] [--force]`: writes the example provisioning root of every
 * phone model plus ROOT/bootwire.json (src/phones/init-root.ts). Exit 0 on success, 1 when writing
 * fails (nothing is left behind), 2 on a usage error (bad size, non-empty ROOT without --force).
 */
import { InitError, parseSize, writeExampleRoot } from '../phones/init-root.js';
import { UsageError } from '@bootwire/core';

export interface InitFlags {
  imageSize?: string;
  force?: boolean;
  seed?: string;
}

export async function init(root: string, flags: InitFlags): Promise<void> {
  let imageSize: number | undefined;
  if (flags.imageSize !== undefined) {
    imageSize = parseSize(flags.imageSize);
    if (imageSize === undefined || imageSize > 1024 ** 3)
      throw new UsageError(
        `--image-size must be a size up to 1G like 1M, 512K or 8000000, got ${JSON.stringify(flags.imageSize)}`,
      );
  }
  let seed: number | undefined;
  if (flags.seed !== undefined) {
    seed = Number(flags.seed);
    if (!/^[0-9]{1,10}$/.test(flags.seed) || seed > 0xffffffff)
      throw new UsageError(`--seed must be an integer in 0..4294967295, got ${JSON.stringify(flags.seed)}`);
  }
  try {
    const r = await writeExampleRoot(root, {
      force: flags.force ?? false,
      ...(imageSize !== undefined ? { imageSize } : {}),
      ...(seed !== undefined ? { seed } : {}),
    });
    process.stdout.write(`wrote ${r.files} files (${(r.bytes / 1024 / 1024).toFixed(1)} MiB) to ${r.root}\n`);
  } catch (e) {
    if (e instanceof InitError && /not empty|not a directory/.test(e.message)) throw new UsageError(e.message);
    if (e instanceof InitError) {
      process.stderr.write(`bootwire: ${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw e;
  }
}
