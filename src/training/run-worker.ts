import { parentPort, workerData } from 'node:worker_threads';
import { initEngine, type BackendName } from '../engine/backend.js';
import { runOnce, type RunSpec } from './run.js';
import type { WorkerReply } from './parallel.js';

// Worker thread of `runInWorkers`: one engine, runs one spec at a time.
const ready = initEngine((workerData as { backend: BackendName }).backend);
parentPort!.on('message', async ({ index, spec }: { index: number; spec: RunSpec }) => {
  let reply: WorkerReply;
  try {
    await ready;
    reply = { index, record: runOnce(spec) };
  } catch (error) {
    reply = { index, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort!.postMessage(reply);
});
