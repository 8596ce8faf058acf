import { initEngine, type BackendName } from '../engine/backend.js';
import { runOnce, type RunSpec } from '../training/run.js';

/** Messages between the sweep runner and its worker processes. */
export type WorkerRequest = { key: string; spec: RunSpec };
export type WorkerReply = { key: string; record: import('../training/run.js').RunRecord } | { key: string; error: string };

// A worker process of `runSweep`: one engine, one run at a time; it ends with its parent.
const ready = initEngine((process.env.PMOE_BACKEND ?? 'auto') as BackendName);
process.on('disconnect', () => process.exit(0));
process.on('message', async ({ key, spec }: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    await ready;
    reply = { key, record: await runOnce(spec) };
  } catch (error) {
    reply = { key, error: error instanceof Error ? error.message : String(error) };
  }
  process.send!(reply);
});
