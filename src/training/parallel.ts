import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { BackendName } from '../engine/backend.js';
import type { RunRecord, RunSpec } from './run.js';

/** A message from a run worker: a finished record or the error that stopped the run. */
export type WorkerReply = { index: number; record: RunRecord } | { index: number; error: string };

/**
 * Runs independent runs in parallel worker threads (one per core by default): each worker has
 * its own TensorFlow.js engine, and the wasm backend is single-threaded, so this is how runs use
 * every core. Records come back in spec order; `onDone` sees each as it finishes.
 */
export async function runInWorkers(
  specs: readonly RunSpec[],
  options: { jobs?: number; backend?: BackendName } = {},
  onDone: (finished: number, record: RunRecord, index: number) => void = () => {},
): Promise<RunRecord[]> {
  const jobs = Math.max(1, Math.min(options.jobs ?? availableParallelism(), specs.length));
  const records = new Array<RunRecord>(specs.length);
  let next = 0;
  let finished = 0;
  const workerUrl = new URL('./run-worker.js', import.meta.url);
  const lane = async () => {
    const worker = new Worker(workerUrl, { workerData: { backend: options.backend ?? 'auto' } });
    try {
      while (next < specs.length) {
        const index = next++;
        const reply = await new Promise<WorkerReply>((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
          worker.postMessage({ index, spec: specs[index] });
        });
        worker.removeAllListeners('error');
        if ('error' in reply) throw new Error(`run ${index + 1} of ${specs.length} failed: ${reply.error}`);
        records[index] = reply.record;
        onDone(++finished, reply.record, index);
      }
    } finally {
      await worker.terminate();
    }
  };
  await Promise.all(Array.from({ length: jobs }, lane));
  return records;
}
