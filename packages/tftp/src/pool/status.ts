/**
 * What the server's main thread and the thread running a transfer share about it, in 16 bytes of a
 * SharedArrayBuffer: the transfer's port (so the server can still reach the client if the worker
 * dies), a cancel flag (the transfer was reclaimed), and when the peer last moved it forward (epoch
 * ms, comparable across threads), which tells an idle transfer from a live one.
 */
export class TransferStatus {
  private readonly ints: Int32Array;
  private readonly progressAt: Float64Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(16)) {
    this.ints = new Int32Array(buffer, 0, 2);
    this.progressAt = new Float64Array(buffer, 8, 1);
  }

  /** The transfer's socket is open (its port set): only then can it be idle. */
  get started(): boolean {
    return this.port !== 0;
  }

  get port(): number {
    return Atomics.load(this.ints, 0);
  }
  set port(p: number) {
    Atomics.store(this.ints, 0, p);
  }

  get cancelled(): boolean {
    return Atomics.load(this.ints, 1) !== 0;
  }
  cancel(): void {
    Atomics.store(this.ints, 1, 1);
  }

  /** Epoch ms of the peer's last progress (or of the start). */
  get lastProgress(): number {
    return this.progressAt[0] ?? 0; // a view of one element: always there
  }
  /** `now` is this thread's performance.now(). */
  progress(now: number): void {
    this.progressAt[0] = performance.timeOrigin + now;
  }
}

/** This thread's clock as epoch ms, comparable with `lastProgress` written by any thread. */
export const epochNow = (): number => performance.timeOrigin + performance.now();
