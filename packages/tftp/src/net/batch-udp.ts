/**
 * Batched UDP sockets (native/udp_batch.c): the TFTP transfers' fast path on Linux, IPv4.
 *
 * Receiving: a thread's batch sockets share one poller: what its sockets received in one turn of the
 * event loop (each read with one recvmmsg, up to its burst) arrives here in one call, as views of one
 * Buffer, each datagram with its source as a number (IPv4, host order) and a port. No per-datagram
 * rinfo, address string or 64 KiB allocation, as node:dgram has.
 *
 * Sending: `queue` collects what one event of a transfer sends, `flush` sends it: a run of equal-sized
 * DATA blocks as one sendmsg with UDP GSO when the thread has several transfers, the rest one sendmsg
 * each (header + payload view). A datagram the kernel refuses for lack of room (the socket's buffer
 * or the interface's queue is full: EAGAIN, ENOBUFS, reported thanks to IP_RECVERR) is never counted
 * as sent: it and the rest of its batch wait in the socket and go when there is room, the thread's
 * waiting sockets served in turn. A newer batch of the same socket replaces what is left of an older
 * one: a transfer's later window or ACK always covers what its earlier one still had to say.
 *
 * The addon is built at install when a C compiler is there (binding.gyp); without it, or with
 * BOOTWIRE_UDP=dgram, `batchUdpAvailable()` is false and callers use node:dgram.
 */
import { createRequire } from 'node:module';
import { isIPv4 } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ipToInt } from '@bootwire/core';
import { emptySendCounters, type SendCounters } from './send-counters.js';

interface Binding {
  createPoller(onBatch: (buf: Buffer, count: number) => void, index: Int32Array): unknown;
  open(
    poller: unknown,
    id: number,
    address: number,
    port: number,
    reuseAddr: boolean,
    slotBytes: number,
    burst: number,
  ): unknown;
  localPort(s: unknown): number;
  connect(s: unknown, address: number, port: number): void;
  send(s: unknown, head: Buffer, body?: Buffer): number;
  sendTo(s: unknown, address: number, port: number, head: Buffer, body?: Buffer): number;
  sendSegments(s: unknown, list: Buffer[], first: number, count: number, segmentBytes: number): number;
  close(s: unknown): void;
  unref(s: unknown): void;
}

let binding: Binding | null | undefined;

function load(): Binding | null {
  if (binding !== undefined) return binding;
  binding = null;
  if (process.platform !== 'linux' || process.env.BOOTWIRE_UDP === 'dgram') return binding;
  // src/net/ and dist/net/ are both two levels below the package root, where node-gyp builds.
  const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../build/Release/udp_batch.node');
  try {
    binding = createRequire(import.meta.url)(file) as Binding;
  } catch {
    binding = null;
  }
  return binding;
}

/** Whether batch sockets can be used in this process (Linux, addon built, not turned off). */
export function batchUdpAvailable(): boolean {
  return load() !== null;
}

/** Whether batch sockets can serve this address (IPv4 only). */
export function batchUdpFor(address: string): boolean {
  return isIPv4(address) && batchUdpAvailable();
}

/**
 * A datagram for one socket: `msg` is a view (valid as long as it is referenced), null in the rare
 * case it could not be kept whole (see udp_batch.c); `address` is IPv4 in host order.
 */
export type BatchHandler = (msg: Buffer | null, address: number, port: number) => void;

const ENTRY = 5;
const BATCH = 512;
const EAGAIN = -11;
const ENOBUFS = -105;
const EBADF = -9;
/** How soon waiting sockets try again when nothing else wakes them (a full interface queue signals nothing). */
const RETRY_MS = 1;

/** One per thread: the native poller, its sockets by id, and the sockets waiting for room to send. */
class Poller {
  readonly native: unknown;
  private readonly index = new Int32Array(BATCH * ENTRY);
  private readonly sockets: (BatchSocket | undefined)[] = [];
  private readonly freeIds: number[] = [];
  /** Ids closed during a batch: reused only after it, so its later entries cannot reach a new socket. */
  private readonly released: number[] = [];
  private inBatch = false;
  /**
   * Sockets open in this thread. With several transfers going, a window sent in one segmented write
   * saves CPU; with one, datagrams sent one by one let the client work on the first while the rest are
   * still being sent: a 64 MiB fetch by atftp took 0.51 s segmented, 0.41 s not.
   */
  open = 0;
  /** Sockets holding datagrams the kernel had no room for, in the order they were refused. */
  readonly waiting: BatchSocket[] = [];
  private retry: NodeJS.Timeout | undefined;

  constructor(b: Binding) {
    this.native = b.createPoller(this.onBatch, this.index);
  }

  add(s: BatchSocket): number {
    if (!this.inBatch) this.recycle();
    const id = this.freeIds.pop() ?? this.sockets.length;
    this.sockets[id] = s;
    this.open++;
    return id;
  }

  remove(id: number): void {
    this.sockets[id] = undefined;
    this.open--;
    this.released.push(id);
  }

  private recycle(): void {
    for (const id of this.released) this.freeIds.push(id);
    this.released.length = 0;
  }

  /** `s` holds datagrams: it is served, in turn with the others, when there may be room. */
  wait(s: BatchSocket): void {
    this.waiting.push(s);
    this.retry ??= setTimeout(this.onRetry, RETRY_MS);
    this.retry.unref(); // the sockets keep the loop alive, not their waiting datagrams
  }

  private readonly onRetry = (): void => {
    this.retry = undefined;
    this.serveWaiting();
  };

  /**
   * Gives each waiting socket a go, oldest first. A full interface queue (ENOBUFS) is full for every
   * socket behind it too: the round stops there; a full socket buffer (EAGAIN) is that socket's own.
   */
  serveWaiting(): void {
    const w = this.waiting;
    let kept = 0;
    let i = 0;
    for (; i < w.length; i++) {
      const s = w[i]!;
      const r = s.resume();
      if (r === 0) continue;
      w[kept++] = s;
      if (r === ENOBUFS) break;
    }
    for (i++; i < w.length; i++) w[kept++] = w[i]!;
    w.length = kept;
    if (kept > 0) this.retry ??= setTimeout(this.onRetry, RETRY_MS);
    this.retry?.unref();
  }

  private readonly onBatch = (buf: Buffer, count: number): void => {
    this.recycle();
    this.inBatch = true;
    try {
      this.dispatch(buf, count);
    } finally {
      this.inBatch = false;
    }
    // Datagrams arriving (ACKs) mean the path is draining: a good moment for the waiting ones.
    if (this.waiting.length > 0) this.serveWaiting();
  };

  private dispatch(buf: Buffer, count: number): void {
    const ix = this.index;
    for (let i = 0, e = 0; i < count; i++, e += ENTRY) {
      const s = this.sockets[ix[e]!];
      if (s === undefined) continue; // closed while the batch was read
      const off = ix[e + 1]!;
      const len = ix[e + 2]!;
      try {
        s.onMessage(len < 0 ? null : buf.subarray(off, off + len), ix[e + 3]! >>> 0, ix[e + 4]!);
      } catch (err) {
        // One handler's failure must not drop the rest of the batch; it surfaces as dgram's would.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}

let poller: Poller | undefined;

export interface BatchSocketOptions {
  /** Local IPv4 address and port (0: any free port). */
  address: string;
  port?: number;
  reuseAddr?: boolean;
  /**
   * Bytes set aside per datagram in a batch: the longest this socket usually gets (a TFTP client:
   * 4 + blksize). Longer ones still arrive whole, at the cost of a copy.
   */
  slotBytes: number;
  /**
   * Datagrams one read takes from this socket (default 1): what it usually has queued when readable,
   * 1 for a lock-step peer, the window for a windowed one. More are read in the next batch.
   */
  burst?: number;
}

const ignore: BatchHandler = () => {};
const EMPTY = Buffer.alloc(0);

/** UDP GSO: segments per send (the kernel takes 64 at most). */
const MAX_SEGMENTS = 64;
/**
 * Bytes per segmented send: a bounded train. A queue that takes the train takes all of it or refuses
 * all of it (ENOBUFS), except a qdisc that splits it first (tbf with a bucket smaller than the train),
 * which may keep part and drop the rest without a word; and a smaller train overruns a small queue
 * downstream less. 16 KiB: a window of 16 blocks of 512 bytes in one send, of 1428 bytes in two.
 */
const MAX_SEGMENTED_BYTES = 16 * 1024;
/**
 * What a send that cannot be segmented returns: the path's MTU is below one datagram (EMSGSIZE), no checksum
 * offload (EIO), or an old kernel (EINVAL).
 */
const UNSEGMENTABLE = new Set([-22, -5, -90]);

export class BatchSocket {
  private readonly b: Binding;
  private readonly s: unknown;
  private readonly id: number;
  private readonly poller: Poller;
  private closed = false;
  /** The batch being built: [head0, body0, head1, body1, ...]. */
  private building: Buffer[] = [];
  private buildingCount = 0;
  /** The last flushed batch, from `next` on still to be sent. */
  private held: Buffer[] = [];
  private heldCount = 0;
  private next = 0;
  /** In the poller's waiting list. */
  private waiting = false;
  /** Cleared when the path cannot segment: datagrams then go one by one (and IP fragments them). */
  private segmenting = true;
  readonly counters: SendCounters = emptySendCounters();
  readonly port: number;
  /** Where this socket's datagrams go; until set, they are dropped (as dgram drops them with no listener). */
  onMessage: BatchHandler = ignore;

  constructor(o: BatchSocketOptions) {
    const b = load();
    if (!b) throw new Error('batched UDP is not available (native/udp_batch.c not built)');
    this.b = b;
    this.poller = poller ??= new Poller(b);
    this.id = this.poller.add(this);
    try {
      this.s = b.open(
        this.poller.native,
        this.id,
        ipToInt(o.address),
        o.port ?? 0,
        o.reuseAddr ?? false,
        o.slotBytes,
        o.burst ?? 1,
      );
      this.port = b.localPort(this.s);
    } catch (e) {
      this.poller.remove(this.id);
      throw e;
    }
  }

  /** Windows sent as one segmented write (for tests). */
  get segmentedSends(): number {
    return this.counters.segmented;
  }

  /** Datagrams waiting for room to be sent. */
  get waitingDatagrams(): number {
    return this.heldCount - this.next;
  }

  /** Only datagrams from this peer reach the socket; `send` needs no address. */
  connect(address: string, port: number): void {
    this.b.connect(this.s, ipToInt(address), port);
  }

  /**
   * One datagram, head then body, to the connected peer, at once and outside any batch. Returns bytes
   * sent or -errno: the caller decides what a refusal means.
   */
  send(head: Buffer, body?: Buffer): number {
    return this.closed ? EBADF : this.b.send(this.s, head, body);
  }

  sendTo(address: number, port: number, head: Buffer, body?: Buffer): number {
    return this.closed ? EBADF : this.b.sendTo(this.s, address, port, head, body);
  }

  /** Adds a datagram for the connected peer to the batch that `flush` sends. */
  queue(head: Buffer, body: Buffer = EMPTY): void {
    const i = 2 * this.buildingCount++;
    this.building[i] = head;
    this.building[i + 1] = body;
  }

  /**
   * Sends the batch `queue` built: it replaces what is left of an earlier one. When other sockets of
   * the thread are waiting for room, it waits behind them.
   */
  flush(): void {
    if (this.buildingCount === 0 || this.closed) return;
    if (this.next < this.heldCount) this.counters.superseded += this.heldCount - this.next;
    const done = this.held;
    this.held = this.building;
    this.heldCount = this.buildingCount;
    this.next = 0;
    this.building = done;
    this.buildingCount = 0;
    if (this.waiting) return; // served in its turn
    if (this.poller.waiting.length > 0 || this.resume() !== 0) {
      this.waiting = true;
      this.poller.wait(this);
    }
  }

  /**
   * Sends what is held, from the first unsent datagram. Returns 0 when all went (or were lost to an
   * error no wait can mend), else the refusal (EAGAIN, ENOBUFS), the rest kept for later.
   */
  resume(): number {
    const h = this.held;
    let retried = false;
    while (this.next < this.heldCount && !this.closed) {
      const i = this.next;
      const n = this.runLength(i);
      let r: number;
      if (n > 1) {
        r = this.b.sendSegments(this.s, h, i, n, h[2 * i]!.length + h[2 * i + 1]!.length);
        if (UNSEGMENTABLE.has(r)) {
          this.segmenting = false;
          continue;
        }
      } else r = this.b.send(this.s, h[2 * i]!, h[2 * i + 1]);
      if (r >= 0) {
        this.next += n;
        this.counters.datagrams += n;
        if (n > 1) this.counters.segmented++;
        retried = false;
      } else if (r === EAGAIN || r === ENOBUFS) {
        this.counters.deferred++;
        return r;
      } else if (!retried) {
        // Often an ICMP error of an earlier datagram, reported by this send instead of it: once more.
        retried = true;
      } else {
        this.counters.errors += n;
        this.next += n;
        retried = false;
      }
    }
    this.waiting = false;
    return 0;
  }

  /** How many datagrams from `i` on go in one segmented write: equal sizes, the last may be shorter. */
  private runLength(i: number): number {
    const h = this.held;
    const end = this.heldCount;
    if (!this.segmenting || this.poller.open <= 1 || i + 1 >= end) return 1;
    const size = h[2 * i]!.length + h[2 * i + 1]!.length;
    let bytes = size;
    let j = i + 1;
    while (j < end && j - i < MAX_SEGMENTS) {
      const len = h[2 * j]!.length + h[2 * j + 1]!.length;
      if (len > size || bytes + len > MAX_SEGMENTED_BYTES) break;
      bytes += len;
      j++;
      if (len < size) break; // a shorter one can only end the run
    }
    return j - i;
  }

  /** The socket stays open but no longer keeps the process alive. */
  unref(): void {
    if (!this.closed) this.b.unref(this.s);
  }

  /** Closes now: what is still waiting gets one more try, then counts as lost. */
  close(): void {
    if (this.closed) return;
    this.flush();
    if (this.next < this.heldCount) this.resume();
    this.counters.errors += this.heldCount - this.next;
    this.closed = true;
    this.held.length = this.building.length = 0;
    this.heldCount = this.next = this.buildingCount = 0;
    const w = this.poller.waiting.indexOf(this);
    if (w >= 0) this.poller.waiting.splice(w, 1);
    this.b.close(this.s);
    this.poller.remove(this.id);
  }
}
