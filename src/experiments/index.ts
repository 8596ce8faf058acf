/** pmoe/experiments: one run from a spec (with its record), the paper's named experiments and the sweep runner. */
export {
  runOnce,
  planImageRun,
  isImageRunSpec,
  isImageRunRecord,
  type RunSpec,
  type RunRecord,
  type PatchRunSpec,
  type PatchRunRecord,
  type ImageRunSpec,
  type ImageRunRecord,
} from '../training/run.js';
export type { Provenance } from '../training/provenance.js';
export { runSweep, type SweepOptions } from './sweep.js';
export { EXPERIMENTS } from './registry.js';
