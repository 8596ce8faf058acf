// Synthetic results lines for the report tests: the real ResultLine type, numbers chosen by hand, no training.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MNIST_PATCH_DEFAULTS } from '../../src/data/mnist-patch.js';
import type { ResultLine } from '../../src/experiments/results-file.js';
import { runKey } from '../../src/experiments/shard.js';
import { trainingSchema } from '../../src/training/train.js';
import { SPURIOUS_GROUPS } from '../../src/data/image-variants.js';
import type { ImageRunRecord, ImageRunSpec, PatchRunRecord, PatchRunSpec } from '../../src/training/run.js';

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

function specOf(run: FixtureRun): PatchRunSpec {
  return {
    data: { source: 'mnist-patch', trainSize: run.trainSize, sampleSeed: run.seed, testCount: 1000 },
    model: run.patchesPerExpert === undefined ? {} : { patchesPerExpert: run.patchesPerExpert },
    training: { model: run.model, epochs: run.epochs ?? 150, seed: run.seed },
  };
}

export function okLine(experiment: string, run: FixtureRun): ResultLine {
  const spec = specOf(run);
  const accuracy = run.accuracy ?? NaN;
  const record: PatchRunRecord = {
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

export interface ImageFixtureRun {
  readonly architecture: 'wrn' | 'wrn-pmoe';
  readonly trainSize: number;
  readonly seed: number;
  /** Final test accuracy as a fraction. */
  readonly accuracy: number;
  readonly source?: 'mnist-quadrants' | 'cifar-vehicles' | 'celeba-spurious' | 'celeba-smiling-eyeglasses' | 'celeba-smiling' | 'cifar-background';
  readonly forwardFlops?: number;
  readonly params?: number;
  readonly trainTimeMs?: number;
  readonly wallTimeMs?: number;
  readonly epochs?: number;
  /** Test accuracy (fraction) per group, in SPURIOUS_GROUPS order, 100 images each. */
  readonly groups?: readonly number[];
}

function imageSpecOf(run: ImageFixtureRun): ImageRunSpec {
  const model =
    run.architecture === 'wrn'
      ? { architecture: 'wrn' as const, wideningFactor: 1 }
      : { architecture: 'wrn-pmoe' as const, wideningFactor: 1, experts: 4, patchesPerExpert: 16 };
  return {
    kind: 'image',
    data: { source: run.source ?? 'mnist-quadrants', dir: '/data', trainSize: run.trainSize, seed: run.seed } as ImageRunSpec['data'],
    model,
    training: { epochs: run.epochs ?? 6, seed: run.seed },
  };
}

/** A finished image run with hand-chosen numbers (no training). */
/** The spurious metrics a CelebA-spurious run records for these group accuracies (SPURIOUS_GROUPS order, 100 images each). */
function celebaSpuriousMetrics(groups: readonly number[]): NonNullable<ImageRunRecord['spurious']> {
  // Group g is class 1 - (g >> 1) (smiling = 1) with black hair (item 1) when g is even.
  const byClassItem = [3, 2, 1, 0].map((g) => ({ g, accuracy: groups[g] }));
  return {
    strength: 0.95,
    classNames: ['not smiling', 'smiling'],
    itemNames: ['blond hair', 'black hair'],
    groups: byClassItem.map(({ g, accuracy }, i) => ({ class: i >> 1, item: i & 1, name: SPURIOUS_GROUPS[g], count: 100, accuracy })),
    balancedAccuracy: groups.reduce((sum, a) => sum + a, 0) / 4,
    worstGroupAccuracy: Math.min(...groups),
    reversedAccuracy: (groups[1] + groups[2]) / 2,
    reversedFrom: 'minority groups',
  };
}

export function imageOkLine(experiment: string, run: ImageFixtureRun): ResultLine {
  const spec = imageSpecOf(run);
  const epochs = run.epochs ?? 6;
  const forward = run.forwardFlops ?? (run.architecture === 'wrn' ? 24_000_000 : 18_000_000);
  const record: ImageRunRecord = {
    kind: 'image',
    data: {
      source: 'mnist-quadrants',
      trainSize: run.trainSize,
      seed: run.seed,
      testSeed: 0,
      testSize: 1000,
      channels: 1,
      ...(run.source ? { source: run.source } : {}),
    } as ImageRunRecord['data'],
    classNames: ['a', 'b'],
    model: { ...spec.model, classes: 4, inputSize: 32, channels: 1, seed: run.seed, batchNormMomentum: 0.9 } as ImageRunRecord['model'],
    training: { epochs, batchSize: 32, learningRate: 0.1, seed: run.seed, evalBatchSize: 256 },
    backend: 'wasm',
    epochs: [{ epoch: epochs, trainLoss: 0.3, trainAccuracy: 0.9, testLoss: 0.5, testAccuracy: run.accuracy, trainSeconds: 1, seconds: 1.2 }],
    finalTestAccuracy: run.accuracy,
    ...(run.groups ? { groupAccuracy: run.groups.map((accuracy, g) => ({ group: SPURIOUS_GROUPS[g], count: 100, accuracy })) } : {}),
    ...(run.groups && run.source === 'celeba-spurious' ? { spurious: celebaSpuriousMetrics(run.groups) } : {}),
    trainableParams: run.params ?? (run.architecture === 'wrn' ? 77_508 : 42_884),
    flops: { forwardPerSample: forward, trainStepPerSample: 3 * forward, training: 3 * forward * run.trainSize * epochs },
    steps: Math.ceil(run.trainSize / 32) * epochs,
    trainTimeMs: run.trainTimeMs ?? 1000,
    dataTimeMs: 10,
    wallTimeMs: run.wallTimeMs ?? 1200,
  };
  return { key: runKey(spec), experiment, status: 'ok', spec, record };
}

export function imageFailedLine(experiment: string, run: ImageFixtureRun, error: string): ResultLine {
  const spec = imageSpecOf(run);
  return { key: runKey(spec), experiment, status: 'failed', spec, error };
}
