// Synthetic results lines for the report tests: the real ResultLine type, numbers chosen by hand, no training.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MNIST_PATCH_DEFAULTS } from '../../src/data/mnist-patch.js';
import type { ResultLine } from '../../src/experiments/results-file.js';
import { runKey } from '../../src/experiments/shard.js';
import { trainingSchema } from '../../src/training/train.js';
import type { RunRecord, RunSpec } from '../../src/training/run.js';

export interface FixtureRun {
  readonly model: 'cnn' | 'separate' | 'joint';
  readonly trainSize: number;
  readonly seed: number;
  /** Final test accuracy as a fraction. */
  readonly accuracy?: number;
  readonly patchesPerExpert?: number;
  readonly epochs?: number;
  readonly routerRates?: readonly number[];
  readonly perClass?: readonly number[];
  readonly wallTimeMs?: number;
  readonly backend?: string;
}

function specOf(run: FixtureRun): RunSpec {
  return {
    data: { source: 'mnist-patch', trainSize: run.trainSize, sampleSeed: run.seed, testCount: 1000 },
    model: run.patchesPerExpert === undefined ? {} : { patchesPerExpert: run.patchesPerExpert },
    training: { model: run.model, epochs: run.epochs ?? 150, seed: run.seed },
  };
}

export function okLine(experiment: string, run: FixtureRun): ResultLine {
  const spec = specOf(run);
  const accuracy = run.accuracy ?? NaN;
  const record: RunRecord = {
    data: { ...MNIST_PATCH_DEFAULTS, source: 'mnist-patch', trainSize: run.trainSize, sampleSeed: run.seed },
    model: spec.model ?? {},
    training: trainingSchema.parse(spec.training),
    backend: run.backend ?? 'wasm',
    epochs: [{ epoch: run.epochs ?? 150, trainLoss: 0.1, trainAccuracy: 1, testLoss: 0.2, testAccuracy: accuracy }],
    routerRateByPatchesPerExpert: run.routerRates,
    routingRate: run.perClass && { rate: run.perClass.reduce((a, b) => a + b, 0) / run.perClass.length, perClass: run.perClass, samples: 1000 },
    finalTestAccuracy: accuracy,
    wallTimeMs: run.wallTimeMs ?? 1000,
  };
  return { key: runKey(spec), experiment, status: 'ok', spec, record };
}

export function failedLine(experiment: string, run: FixtureRun, error: string): ResultLine {
  const spec = specOf(run);
  return { key: runKey(spec), experiment, status: 'failed', spec, error };
}

export async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'pmoe-report-'));
}

/** Writes lines as the sweep does: one JSON object per line, each ended by a newline. */
export async function writeResults(dir: string, name: string, lines: readonly ResultLine[]): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
  return path;
}

/** Figure 4 lines whose seed means are exactly `means` (%) at each N: seeds at mean - 1, mean, mean + 1. */
export function fig4Lines(means: Readonly<Record<'cnn' | 'separate' | 'joint', readonly number[]>>, sizes: readonly number[]): ResultLine[] {
  return (Object.keys(means) as ('cnn' | 'separate' | 'joint')[]).flatMap((model) =>
    sizes.flatMap((trainSize, i) => [-1, 0, 1].map((offset, seed) => okLine('fig4', { model, trainSize, seed, accuracy: (means[model][i] + offset) / 100 }))),
  );
}
