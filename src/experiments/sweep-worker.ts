import { initEngine, type BackendName } from '../engine/backend.js';
import { runOnce, type RunSpec } from '../training/run.js';
import type { TrainingHooks } from '../training/train.js';
import { causeOfError, type FailureCause } from './failure.js';
import { checkRunRecord } from './result-schema.js';
import { epochLogHooks } from '../training/epoch-log.js';
import { AUTO_GPU_VARIABLE, EPOCH_LOG_DIR_VARIABLE } from './sweep-worker-env.js';

/** Messages between the sweep runner and its worker processes. */
export type WorkerRequest = { key: string; spec: RunSpec };
export type WorkerReply = { key: string; record: import('../training/run.js').RunRecord } | { key: string; error: string; cause: FailureCause };

// A worker process of `runSweep`: one engine, one run at a time; it ends with its parent.
const ready = initEngine((process.env.PMOE_BACKEND ?? 'auto') as BackendName, { gpu: process.env[AUTO_GPU_VARIABLE] !== '0' });
process.on('disconnect', () => process.exit(0));
// Training is synchronous, so a parent killed mid-run (SIGKILL) sends no 'disconnect' the worker
// could see: it checks for a new parent (init adopts orphans) after every epoch instead.
const parent = process.ppid;
const hooks: TrainingHooks = {
  onEpoch() {
    if (process.ppid !== parent) process.exit(1);
  },
};
process.on('message', async ({ key, spec }: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    await ready;
    const logDir = process.env[EPOCH_LOG_DIR_VARIABLE];
    const record = await runOnce(spec, logDir ? epochLogHooks(logDir, key, hooks) : hooks);
    checkRunRecord(record); // what `pmoe report` will check, before the line is written
    reply = { key, record };
  } catch (error) {
    reply = { key, error: error instanceof Error ? error.message : String(error), cause: causeOfError(error) };
  }
  // A parent killed meanwhile takes no reply: end quietly rather than with an EPIPE stack trace.
  process.send!(reply, undefined, undefined, (error: Error | null) => {
    if (error) process.exit(1);
  });
});
