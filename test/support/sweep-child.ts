// The fault-injection suite's sweeps. Run as a script with a results path (and `orphan` for the
// second), it sweeps into that file; the suite kills it and runs it again to resume.
import { runSweep } from '../../src/experiments/sweep.js';
import type { RunSpec } from '../../src/training/run.js';

const data = (trainSize: number) => ({ source: 'synthetic' as const, trainSize, testSize: 60, seed: 3 });

export const RELIABILITY_SWEEP: RunSpec[] = [
  ...[20, 30].flatMap((trainSize) =>
    (['cnn', 'separate', 'joint'] as const).map((model) => ({ data: data(trainSize), training: { model, epochs: 3, routerEpochs: 2, seed: 3 } })),
  ),
  // The router phase's linear loss is unbounded below: at a learning rate of 1e38 it leaves float32
  // within a few steps, whatever the implementation. The run must fail with a hint.
  { data: data(20), training: { model: 'separate', epochs: 2, routerEpochs: 5, batchSize: 2, learningRate: 1e38, seed: 3 } },
];

/** One worker: a tiny run, then one that would train for hours (the suite kills the sweep during it). */
export const ORPHAN_SWEEP: RunSpec[] = [
  { data: data(20), training: { model: 'cnn', epochs: 1, seed: 3 } },
  { data: data(4000), training: { model: 'cnn', epochs: 100_000, evalEvery: 100_000, seed: 3 } },
];

const [, , resultsPath, which] = process.argv;
if (resultsPath) {
  const orphan = which === 'orphan';
  // 'started' once the lock is held and the workers are being started: from then on a kill is mid-run.
  let started = false;
  const onProgress = () => {
    if (!started) process.stdout.write('started\n');
    started = true;
  };
  await runSweep(orphan ? ORPHAN_SWEEP : RELIABILITY_SWEEP, { experiment: 'reliability', resultsPath, jobs: orphan ? 1 : 2, backend: 'wasm', onProgress });
}
