/**
 * Batched UDP sockets (native/udp_batch.c): the TFTP transfers' fast path on Linux, IPv4.
 *
 * A thread's batch sockets share one poller: what its sockets received in one turn of the event loop
 * (each read with one recvmmsg, up to its burst) arrives here in one call, as views of one Buffer,
 * each datagram with its source as a number (IPv4, host order) and a port. No per-datagram rinfo, address string or 64 KiB
 * allocation, as node:dgram has; a send is one sendmsg of header + payload view.
 *
 * The addon is built at install when a C compiler is there (binding.gyp); without it, or with
 * BOOTWIRE_UDP=dgram, `batchUdpAvailable()` is false and callers use node:dgram.
 */
import { createRequire } from 'node:module';
import { isIPv4 } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface Binding {
  createPoller(onBatch: (buf: Buffer, count: number) => void, index: Int32Array): unknown;
  open(poller: unknown, id: number, address: number, port: number, reuseAddr: boolean, slotBytes: number, burst: number): unknown;
  localPort(s: unknown): number;
  connect(s: unknown, address: number, port: number): void;
  send(s: unknown, head: Buffer, body?: Buffer): number;
  sendTo(s: unknown, address: number, port: number, head: Buffer, body?: Buffer): number;
  sendSegments(s: unknown, list: Buffer[], count: number, segmentBytes: number): number;
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

export function ipv4ToNumber(address: string): number {
  const p = address.split('.');
  return ((+p[0]! << 24) | (+p[1]! << 16) | (+p[2]! << 8) | +p[3]!) >>> 0;
}

export function numberToIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * A datagram for one socket: `msg` is a view (valid as long as it is referenced), null in the rare
 * case it could not be kept whole (see udp_batch.c); `address` is IPv4 in host order.
 */
export type BatchHandler = (msg: Buffer | null, address: number, port: number) => void;

const ENTRY = 5;
const BATCH = 512;

/** One per thread: the native poller and its sockets, by id. */
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

  private readonly onBatch = (buf: Buffer, count: number): void => {
    this.recycle();
    this.inBatch = true;
    try {
      this.dispatch(buf, count);
    } finally {
      this.inBatch = false;
    }
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

/** UDP GSO limits: segments per send (the kernel takes 64 or more) and bytes per send (one UDP length). */
const MAX_SEGMENTS = 64;
const MAX_SEGMENTED_BYTES = 65507;
/** What a send that cannot be segmented returns: the path's MTU is below one datagram (EMSGSIZE), no checksum offload (EIO), or an old kernel (EINVAL). */
const UNSEGMENTABLE = new Set([-22, -5, -90]);

export class BatchSocket {
  private readonly b: Binding;
  private readonly s: unknown;
  private readonly id: number;
  private closed = false;
  /** Datagrams queued for one segmented send: [head0, body0, head1, body1, ...]. */
  private readonly pending: Buffer[] = [];
  private pendingCount = 0;
  private pendingBytes = 0;
  private segment = 0;
  private lastShort = false;
  /** Windows sent as one segmented write (for tests and counters). */
  segmentedSends = 0;
  /** Cleared when the path cannot segment: datagrams then go one by one (and IP fragments them). */
  private segmenting = true;
  readonly port: number;
  /** Where this socket's datagrams go; until set, they are dropped (as dgram drops them with no listener). */
  onMessage: BatchHandler = ignore;

  constructor(o: BatchSocketOptions) {
    const b = load();
    if (!b) throw new Error('batched UDP is not available (native/udp_batch.c not built)');
    this.b = b;
    poller ??= new Poller(b);
    this.id = poller.add(this);
    try {
      this.s = b.open(poller.native, this.id, ipv4ToNumber(o.address), o.port ?? 0, o.reuseAddr ?? false, o.slotBytes, o.burst ?? 1);
      this.port = b.localPort(this.s);
    } catch (e) {
      poller.remove(this.id);
      throw e;
    }
  }

  /** Only datagrams from this peer reach the socket; `send` needs no address. */
  connect(address: string, port: number): void {
    this.b.connect(this.s, ipv4ToNumber(address), port);
  }

  /** One datagram, head then body, to the connected peer. Returns bytes sent or -errno (UDP: a loss). */
  send(head: Buffer, body?: Buffer): number {
    return this.closed ? -9 : this.b.send(this.s, head, body);
  }

  /**
   * Queues a datagram for the connected peer until `flush()`: a window of equal-sized DATA blocks
   * (the last may be shorter) leaves in one sendmsg with UDP GSO, which the kernel cuts into datagrams,
   * when the thread has several sockets open (see Poller.open). On loopback that cuts what a window costs the server by
   * more than half. Order with `send` is the caller's: flush first.
   */
  queue(head: Buffer, body: Buffer): void {
    const size = head.length + body.length;
    if (
      this.pendingCount > 0 &&
      (size > this.segment || this.lastShort || this.pendingCount === MAX_SEGMENTS || this.pendingBytes + size > MAX_SEGMENTED_BYTES)
    ) {
      this.flush();
    }
    if (this.pendingCount === 0) this.segment = size;
    this.lastShort = size < this.segment;
    this.pending[2 * this.pendingCount] = head;
    this.pending[2 * this.pendingCount + 1] = body;
    this.pendingCount++;
    this.pendingBytes += size;
  }

  /** Sends what `queue` holds. */
  flush(): void {
    const n = this.pendingCount;
    if (n === 0) return;
    this.pendingCount = 0;
    this.pendingBytes = 0;
    const p = this.pending;
    if (n > 1 && this.segmenting && poller!.open > 1 && !this.closed) {
      const r = this.b.sendSegments(this.s, p, n, this.segment);
      if (!UNSEGMENTABLE.has(r)) {
        this.segmentedSends++;
        return;
      }
      this.segmenting = false;
    }
    for (let i = 0; i < n; i++) this.send(p[2 * i]!, p[2 * i + 1]!);
  }

  sendTo(address: number, port: number, head: Buffer, body?: Buffer): number {
    return this.closed ? -9 : this.b.sendTo(this.s, address, port, head, body);
  }

  /** The socket stays open but no longer keeps the process alive. */
  unref(): void {
    if (!this.closed) this.b.unref(this.s);
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.b.close(this.s);
    poller!.remove(this.id);
  }
}
