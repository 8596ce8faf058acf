// Runs a small sweep into the results file named on the command line (used by the kill test).
import { runSweep } from '../../src/experiments/sweep.js';
import type { RunSpec } from '../../src/training/run.js';

export function smallSweep(): RunSpec[] {
  return [20, 30, 40].flatMap((trainSize) =>
    (['cnn', 'separate', 'joint'] as const).map((model) => ({
      data: { source: 'synthetic' as const, trainSize, testSize: 100, seed: 1 },
      training: { model, epochs: 3, routerEpochs: 2, seed: 1 },
    })),
  );
}

const [, , resultsPath, jobs] = process.argv;
if (resultsPath) {
  await runSweep(smallSweep(), { experiment: 'kill-test', resultsPath, jobs: Number(jobs ?? 2), backend: 'wasm' });
}
