/**
 * One in-memory copy of each served file, shared by every transfer of it.
 *
 * A file is identified by path + device + inode + size + mtime: a file replaced on disk (new inode, or
 * new size/mtime) gets a new entry, while transfers that started on the old bytes keep them until they
 * end. Bytes live in a SharedArrayBuffer so worker threads can send views of the same copy. Entries no
 * transfer holds are kept for reuse and evicted, least recently used first, past `maxBytes`.
 *
 * Values derived from a file's bytes (such as its netascii length) are computed once per file version
 * with `memo` and kept with its entry, so no request pays for a scan of the whole file again.
 */
import { promises as fs } from 'node:fs';

export interface CachedFile {
  readonly path: string;
  /** View over the shared copy. Never written after load. */
  readonly bytes: Buffer;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
  /** `compute(bytes)`, run once for this file version under `key` and kept with it. */
  memo<T>(key: string, compute: (bytes: Buffer) => T): T;
}

export interface FileLease {
  readonly file: CachedFile;
  /** Call exactly once when the transfer no longer needs the bytes. */
  release(): void;
}

interface Entry {
  key: string;
  file: CachedFile;
  refs: number;
  lastUsed: number;
}

export interface ImageCacheStats {
  entries: number;
  bytes: number;
  loads: number;
  hits: number;
  /** Values computed by `memo` (each once per file version and key). */
  derived: number;
}

export class ImageCache {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Entry>>();
  /** The newest key seen for each path, so superseded copies can be dropped when unused. */
  private readonly current = new Map<string, string>();
  private bytes = 0;
  private loads = 0;
  private hits = 0;
  private derived = 0;
  private clock = 0;

  constructor(private readonly maxBytes = 512 * 1024 * 1024) {}

  /** Leases the current contents of `path` (already resolved inside a root). */
  async acquire(path: string): Promise<FileLease> {
    const st = await fs.stat(path, { bigint: false });
    const key = `${path}\0${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    let entry = this.entries.get(key);
    if (entry) this.hits++;
    else {
      let pending = this.loading.get(key);
      if (!pending) {
        pending = this.load(key, path, st.size);
        this.loading.set(key, pending);
        pending.finally(() => this.loading.delete(key)).catch(() => {});
      } else this.hits++;
      entry = await pending;
    }
    const previous = this.current.get(path);
    if (previous !== key) {
      this.current.set(path, key);
      if (previous) this.dropIfUnused(previous);
    }
    entry.refs++;
    entry.lastUsed = ++this.clock;
    let released = false;
    const e = entry;
    return {
      file: e.file,
      release: () => {
        if (released) return;
        released = true;
        e.refs--;
        e.lastUsed = ++this.clock;
        if (this.current.get(e.file.path) !== e.key) this.dropIfUnused(e.key);
        this.evict();
      },
    };
  }

  private async load(key: string, path: string, expectedSize: number): Promise<Entry> {
    const handle = await fs.open(path, 'r');
    try {
      const st = await handle.stat();
      const sab = new SharedArrayBuffer(st.size);
      const bytes = Buffer.from(sab);
      let at = 0;
      while (at < st.size) {
        const { bytesRead } = await handle.read(bytes, at, st.size - at, at);
        if (bytesRead === 0) break;
        at += bytesRead;
      }
      if (at !== st.size || st.size !== expectedSize) throw new Error(`${path} changed while it was read`);
      this.loads++;
      const memos = new Map<string, unknown>();
      const memo = <T>(k: string, compute: (b: Buffer) => T): T => {
        if (memos.has(k)) return memos.get(k) as T;
        const v = compute(bytes);
        this.derived++;
        memos.set(k, v);
        return v;
      };
      const entry: Entry = {
        key,
        file: { path, bytes, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, memo },
        refs: 0,
        lastUsed: ++this.clock,
      };
      this.entries.set(key, entry);
      this.bytes += st.size; // evicted, if need be, on release: a new entry is about to be leased
      return entry;
    } finally {
      await handle.close();
    }
  }

  private dropIfUnused(key: string): void {
    const e = this.entries.get(key);
    if (e && e.refs === 0) {
      this.entries.delete(key);
      this.bytes -= e.file.size;
    }
  }

  private evict(): void {
    if (this.bytes <= this.maxBytes) return;
    const idle = [...this.entries.values()].filter((e) => e.refs === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    for (const e of idle) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(e.key);
      this.bytes -= e.file.size;
    }
  }

  stats(): ImageCacheStats {
    return { entries: this.entries.size, bytes: this.bytes, loads: this.loads, hits: this.hits, derived: this.derived };
  }
}
