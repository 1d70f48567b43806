/**
 * Where RRQ transfers run: in a piscina pool of worker threads, or on the calling thread (workers = 0).
 *
 * The pool runs hundreds of transfers per worker at once (each is mostly waiting for ACKs), with
 * `atomics: 'async'`: piscina's default 'sync' parks an idle worker in Atomics.wait, which would freeze
 * the timers of every other transfer in that worker. A worker that dies takes only its own transfers
 * with it: their tasks reject, the server tells those clients with an ERROR sent from the transfer's
 * own port, and piscina starts a replacement.
 */
import { randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BroadcastChannel } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { encodeError } from '../codec.js';
import { abortAll, abortTransfer, nudgeTransfer, type ReadResult, type ReadTask, runReadTask } from './read-task.js';
import { TransferStatus } from './status.js';
import { CONTROL_CHANNEL, type ControlMessage } from './worker.js';

/** The worker's built file. Tests run this module from src/, but a worker thread needs the build. */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const built = here.endsWith('.ts')
    ? path.resolve(path.dirname(here), '../../dist/pool/worker-entry.cjs')
    : path.join(path.dirname(here), 'worker-entry.cjs');
  if (!existsSync(built)) throw new Error(`transfer worker ${built} is missing: run npm run build`);
  return built;
}

export interface TransferRunner {
  readonly workers: number;
  run(task: ReadTask): Promise<ReadResult>;
  /** Ends every running transfer with this ERROR. */
  abortAll(code: number, message: string): void;
  /** Ends the transfer of task `id` with this ERROR (set its status's cancel flag first). */
  abort(id: number, code: number, message: string): void;
  /** The client of task `id` repeated its request. */
  nudge(id: number): void;
  close(): Promise<void>;
}

export function defaultWorkerCount(): number {
  return os.availableParallelism();
}

/** Transfers on the calling thread. */
export function inlineTransferRunner(): TransferRunner {
  return new InlineRunner();
}

/** piscina is loaded only when a pool is made: importing the TFTP codec loads no worker pool. */
export async function createTransferRunner(workers: number): Promise<TransferRunner> {
  if (workers === 0) return new InlineRunner();
  const { Piscina } = await import('piscina');
  return new PoolRunner(workers, Piscina);
}

class InlineRunner implements TransferRunner {
  readonly workers = 0;
  run(task: ReadTask): Promise<ReadResult> {
    return runReadTask(task);
  }
  abortAll(code: number, message: string): void {
    abortAll(code, message);
  }
  abort(id: number, code: number, message: string): void {
    abortTransfer(id, code, message);
  }
  nudge(id: number): void {
    nudgeTransfer(id);
  }
  async close(): Promise<void> {}
}

class PoolRunner implements TransferRunner {
  private readonly pool: Piscina;
  private readonly poolId = randomUUID();
  private readonly control = new BroadcastChannel(CONTROL_CHANNEL);

  constructor(
    readonly workers: number,
    Pool: typeof Piscina,
  ) {
    this.control.unref();
    this.pool = new Pool({
      filename: workerFile(),
      minThreads: workers,
      maxThreads: workers,
      concurrentTasksPerWorker: 1024,
      atomics: 'async',
      idleTimeout: Infinity,
      maxQueue: 'auto',
      // A transfer allocates little that lives long: a small young generation keeps each worker's RSS
      // down (200 transfers of one 32 MiB image stay under 150 MB in all) at the cost of more, cheap, scavenges.
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
    // A worker's crash rejects its tasks (handled per task); the pool itself must never throw.
    this.pool.on('error', () => {});
  }

  /** The pool's live worker threads (tests use this to kill one). */
  get threads() {
    return this.pool.threads;
  }

  async run(task: ReadTask): Promise<ReadResult> {
    try {
      return (await this.pool.run({ ...task, poolId: this.poolId })) as ReadResult;
    } catch (e) {
      // The client hears only that it failed; the reason stays in the transfer record.
      await tellClient(task, 'transfer worker failed');
      const message = `transfer worker failed: ${(e as Error).message}`;
      return {
        ok: false,
        error: { code: 0, message, by: 'local' },
        bytes: 0,
        blocks: 0,
        retransmits: 0,
        errorsSent: { 0: 1 },
      };
    }
  }

  abortAll(code: number, message: string): void {
    const m: ControlMessage = { type: 'abort', poolId: this.poolId, code, message };
    this.control.postMessage(m);
  }

  abort(id: number, code: number, message: string): void {
    const m: ControlMessage = { type: 'abort-one', poolId: this.poolId, id, code, message };
    this.control.postMessage(m);
  }

  nudge(id: number): void {
    const m: ControlMessage = { type: 'nudge', poolId: this.poolId, id };
    this.control.postMessage(m);
  }

  async close(): Promise<void> {
    this.control.close();
    await this.pool.destroy();
  }
}

/** After a worker died: the client is locked to the transfer's port, so the ERROR goes out from it. */
async function tellClient(task: ReadTask, message: string): Promise<void> {
  const port = new TransferStatus(task.status).port;
  const s = dgram.createSocket({ type: isIPv6(task.host) ? 'udp6' : 'udp4', reuseAddr: true });
  s.on('error', () => {});
  await new Promise<void>((resolve) => {
    s.once('error', () => resolve());
    s.bind(port, task.host, () => resolve());
  });
  await new Promise<void>((resolve) => {
    try {
      s.send(encodeError(0, message), task.peer.port, task.peer.address, () => resolve());
    } catch {
      resolve();
    }
  });
  s.close();
}
