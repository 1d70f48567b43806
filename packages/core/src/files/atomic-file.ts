/**
 * A file written in pieces and put in place only when complete and durable: data goes to a hidden
 * temporary file next to the target, which on commit is fsynced, renamed (or hard-linked, when
 * overwriting is not allowed, so an existing file is never replaced) into place, and the directory
 * fsynced. Abort deletes it. No partial file is ever visible under the target name.
 *
 * - A target created without overwrite is reserved in this process from `create` to the end, so a
 *   second writer of the same new name is refused at once (FileExistsError), not at its commit.
 * - The temporary name does not derive from the target's: it fits wherever the target's name fits
 *   (a 255-byte name leaves no room for a prefix and suffix).
 * - `write` resolves once its bytes are written (in order; pieces queued meanwhile go in one writev),
 *   so the caller can acknowledge exactly what is on disk. The first failure fails every later write
 *   and the commit.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

export class FileExistsError extends Error {
  readonly code = 'EEXIST';
}

/** Targets of uncommitted writers that may not overwrite, in this process. */
const reserved = new Set<string>();

/** Linux takes at most 1024 buffers in one writev (IOV_MAX). */
const IOV_MAX = 1024;

interface Pending {
  bytes: Uint8Array;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class AtomicFile {
  private queue: Pending[] = [];
  private writing: Promise<void> | undefined;
  private failure: Error | undefined;
  private finished = false;
  private released = false;

  private constructor(
    readonly target: string,
    readonly tempPath: string,
    private readonly handle: fs.FileHandle,
    private readonly overwrite: boolean,
  ) {}

  static async create(target: string, opts: { overwrite: boolean }): Promise<AtomicFile> {
    if (!opts.overwrite) {
      if (reserved.has(target)) throw new FileExistsError(`${target} is being written`);
      reserved.add(target);
    }
    try {
      // lstat also says whether the name can exist here at all (ENAMETOOLONG, ENOTDIR).
      const exists = await fs.lstat(target).then(
        () => true,
        (e: NodeJS.ErrnoException) => {
          if (e.code === 'ENOENT') return false;
          throw e;
        },
      );
      if (exists && !opts.overwrite) throw new FileExistsError(`${target} already exists`);
      const temp = path.join(path.dirname(target), `.bootwire-${randomBytes(8).toString('hex')}.part`);
      const handle = await fs.open(temp, 'wx', 0o644);
      return new AtomicFile(target, temp, handle, opts.overwrite);
    } catch (e) {
      if (!opts.overwrite) reserved.delete(target);
      throw e;
    }
  }

  /**
   * Queues bytes to write after those queued before. Resolves when they are written; rejects with
   * the first write error (of these or earlier bytes). The buffer must not change until then. The
   * returned promise may be ignored: a failure also fails `commit`.
   */
  write(bytes: Uint8Array): Promise<void> {
    if (this.failure) return handled(Promise.reject(this.failure));
    if (this.finished) return handled(Promise.reject(new Error('file already committed or aborted')));
    const p = new Promise<void>((resolve, reject) => this.queue.push({ bytes, resolve, reject }));
    this.writing ??= this.pump();
    return handled(p);
  }

  /** Writes what is queued, a batch per writev, until nothing is. */
  private async pump(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, IOV_MAX);
      if (!this.failure) {
        try {
          await writeAll(
            this.handle,
            batch.map((p) => p.bytes),
          );
        } catch (e) {
          this.failure = e as Error;
        }
      }
      for (const p of batch) {
        if (this.failure) p.reject(this.failure);
        else p.resolve();
      }
    }
    this.writing = undefined;
  }

  /**
   * Waits for the queued writes, then makes the file durable and puts it in place: fsync, close,
   * rename or link (+ unlink of the temporary name), fsync of the directory. On any error the
   * temporary file is removed and the error thrown.
   */
  async commit(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await this.drain();
    try {
      if (this.failure) throw this.failure;
      await this.handle.sync();
      await this.handle.close();
      if (this.overwrite) {
        await fs.rename(this.tempPath, this.target);
      } else {
        try {
          await fs.link(this.tempPath, this.target);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST')
            throw new FileExistsError(`${this.target} already exists`);
          throw e;
        }
        await fs.unlink(this.tempPath);
      }
      await syncDirectory(path.dirname(this.target));
    } catch (e) {
      await this.discard();
      throw e;
    } finally {
      this.release();
    }
  }

  /** Drops everything written. Safe to call more than once. */
  async abort(): Promise<void> {
    this.finished = true;
    this.failure ??= new Error('aborted');
    await this.drain();
    await this.discard();
    this.release();
  }

  private async drain(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async discard(): Promise<void> {
    await this.handle.close().catch(() => {});
    await fs.unlink(this.tempPath).catch(() => {});
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    if (!this.overwrite) reserved.delete(this.target);
  }
}

/** A promise the caller may ignore: its rejection is not reported as unhandled. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

/** writev until every byte is written (a regular file may take part of a writev, e.g. as the disk fills). */
async function writeAll(handle: fs.FileHandle, buffers: Uint8Array[]): Promise<void> {
  let list = buffers.filter((b) => b.length > 0);
  while (list.length > 0) {
    const total = list.reduce((n, b) => n + b.length, 0);
    const { bytesWritten } = await handle.writev(list);
    if (bytesWritten >= total) return;
    if (bytesWritten <= 0) throw new Error('write made no progress');
    let skip = bytesWritten;
    const rest: Uint8Array[] = [];
    for (const b of list) {
      if (skip >= b.length) {
        skip -= b.length;
        continue;
      }
      rest.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
    list = rest;
  }
}

/** Makes a rename, link or unlink in `dir` durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const d = await fs.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
