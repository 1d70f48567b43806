/**
 * A transfer worker (piscina). Each task is one RRQ served to the end; many run at once per worker.
 * A BroadcastChannel from the server tells the worker to end its transfers on shutdown.
 */
import { BroadcastChannel } from 'node:worker_threads';
import { abortAll, abortTransfer, nudgeTransfer, type ReadTask, runReadTask } from './read-task.js';

export const CONTROL_CHANNEL = 'bootwire-transfer-pool';

export type ControlMessage =
  | { type: 'abort'; poolId: string; code: number; message: string }
  /** One transfer, wherever it runs (a reclaimed idle transfer). */
  | { type: 'abort-one'; poolId: string; id: number; code: number; message: string }
  /** Its client repeated the request. */
  | { type: 'nudge'; poolId: string; id: number };

let control: BroadcastChannel | undefined;

function listen(poolId: string): void {
  if (control) return;
  control = new BroadcastChannel(CONTROL_CHANNEL);
  control.unref();
  control.onmessage = (event) => {
    const m = (event as { data: ControlMessage }).data;
    if (m.poolId !== poolId) return;
    if (m.type === 'abort') abortAll(m.code, m.message);
    else if (m.type === 'abort-one') abortTransfer(m.id, m.code, m.message);
    else if (m.type === 'nudge') nudgeTransfer(m.id);
  };
}

export default function serveRead(task: ReadTask & { poolId: string }) {
  listen(task.poolId);
  return runReadTask(task);
}
