/**
 * The file piscina loads in each transfer worker: CommonJS, importing the worker module (ESM) on the
 * first task. piscina loads its worker file with require(), and on Node 20 a require() of an ES module
 * aborts the whole process (FATAL ERROR in ModuleWrap::CreateRequiredModuleFacade) when the pool is
 * destroyed while a worker is still loading it: seen when a server closed right after it started.
 */
import type { ReadResult, ReadTask } from './read-task.js';

type Serve = (task: ReadTask & { poolId: string }) => Promise<ReadResult>;
let serve: Promise<Serve> | undefined;

module.exports = function serveRead(task: ReadTask & { poolId: string }): Promise<ReadResult> {
  serve ??= import('./worker.js').then((m: { default: Serve }) => m.default);
  return serve.then((run) => run(task));
};
