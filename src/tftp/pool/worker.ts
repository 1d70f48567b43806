/**
 * A transfer worker (piscina). Each task is one RRQ served to the end; many run at once per worker.
 * A BroadcastChannel from the server tells the worker to end its transfers on shutdown.
 */
import { BroadcastChannel } from 'node:worker_threads';
import { abortAll, type ReadTask, runReadTask } from './read-task.js';

export const CONTROL_CHANNEL = 'bootwire-transfer-pool';

export type ControlMessage = { type: 'abort'; poolId: string; code: number; message: string };

let control: BroadcastChannel | undefined;

function listen(poolId: string): void {
  if (control) return;
  control = new BroadcastChannel(CONTROL_CHANNEL);
  control.unref();
  control.onmessage = (event) => {
    const m = (event as { data: ControlMessage }).data;
    if (m.type === 'abort' && m.poolId === poolId) abortAll(m.code, m.message);
  };
}

export default function serveRead(task: ReadTask & { poolId: string }) {
  listen(task.poolId);
  return runReadTask(task);
}
