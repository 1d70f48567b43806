/**
 * A file written in pieces and put in place only when complete: data goes to a hidden temporary file
 * next to the target, which is renamed (or hard-linked, when overwriting is not allowed, so an
 * existing file is never replaced) on commit and deleted on abort. No partial file is ever visible
 * under the target name.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

export class FileExistsError extends Error {
  readonly code = 'EEXIST';
}

export class AtomicFile {
  private chain: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private finished = false;

  private constructor(
    readonly target: string,
    readonly tempPath: string,
    private readonly handle: fs.FileHandle,
    private readonly overwrite: boolean,
  ) {}

  static async create(target: string, opts: { overwrite: boolean }): Promise<AtomicFile> {
    if (!opts.overwrite) {
      const exists = await fs.lstat(target).then(() => true, () => false);
      if (exists) throw new FileExistsError(`${target} already exists`);
    }
    const temp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.part`);
    const handle = await fs.open(temp, 'wx', 0o644);
    return new AtomicFile(target, temp, handle, opts.overwrite);
  }

  /** Queues bytes to write, in order. The buffer must not change until the write completes. */
  write(bytes: Uint8Array): void {
    if (this.failure || this.finished || bytes.length === 0) return;
    this.chain = this.chain.then(async () => {
      if (this.failure) return;
      try {
        await this.handle.write(bytes);
      } catch (e) {
        this.failure = e as Error;
      }
    });
  }

  /** Flushes and puts the file in place. On any error the temporary file is removed and the error thrown. */
  async commit(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await this.chain;
    try {
      if (this.failure) throw this.failure;
      await this.handle.close();
      if (this.overwrite) {
        await fs.rename(this.tempPath, this.target);
      } else {
        try {
          await fs.link(this.tempPath, this.target);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new FileExistsError(`${this.target} already exists`);
          throw e;
        }
        await fs.unlink(this.tempPath);
      }
    } catch (e) {
      await this.discard();
      throw e;
    }
  }

  /** Drops everything written. Safe to call more than once. */
  async abort(): Promise<void> {
    this.finished = true;
    await this.chain;
    await this.discard();
  }

  private async discard(): Promise<void> {
    await this.handle.close().catch(() => {});
    await fs.unlink(this.tempPath).catch(() => {});
  }
}
