import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { SpuriousMetrics } from '../../src/analysis/spurious-metrics.js';
import { MNIST_PATCH_DEFAULTS } from '../../src/data/mnist-patch.js';
import type { ResultLine } from '../../src/experiments/results-file.js';
import { runKey } from '../../src/experiments/shard.js';
import { writeReport } from '../../src/report/report.js';
import type { PatchRunRecord, PatchRunSpec } from '../../src/training/run.js';
import { trainingSchema } from '../../src/training/train.js';
import { tempDir, writeResults } from '../support/report-fixtures.js';

/** A grid run with its spurious metrics: worst group `worst`, balanced `balanced`, reversed `reversed` (fractions). */
function spuriousLine(model: 'cnn' | 'joint', strength: number, seed: number, worst: number, balanced: number, reversed: number): ResultLine {
  const spec: PatchRunSpec = {
    data: { source: 'mnist-patch', trainSize: 200, sampleSeed: seed, testCount: 1000, spuriousStrength: strength },
    model: model === 'joint' ? { patchesPerExpert: 6 } : {},
    training: { model, epochs: 150, evalEvery: 150, seed },
  };
  const groups = [worst, balanced, balanced, 2 * balanced - worst].map((accuracy, g) => ({
    class: g >> 1,
    item: g & 1,
    name: `group ${g}`,
    count: 250,
    accuracy: Math.min(1, accuracy),
  }));
  const spurious: SpuriousMetrics = {
    strength,
    classNames: ['digit 1', 'digit 0'],
    itemNames: ['digit 6', 'digit 7'],
    groups,
    balancedAccuracy: balanced,
    worstGroupAccuracy: worst,
    reversedAccuracy: reversed,
    reversedFrom: 'reversed set',
    ...(model === 'joint'
      ? {
          routing: {
            unit: 'images' as const,
            experts: [
              { truePatch: [0.9, 0.1], spuriousPatch: [0.2, 0.4] },
              { truePatch: [0.3, 0.7], spuriousPatch: [0.6, 0.0] },
            ],
          },
        }
      : {}),
  };
  const record: PatchRunRecord = {
    data: { ...MNIST_PATCH_DEFAULTS, source: 'mnist-patch', trainSize: 200, sampleSeed: seed, spuriousStrength: strength, spuriousItems: [6, 7] },
    model: spec.model ?? {},
    training: trainingSchema.parse(spec.training),
    backend: 'wasm',
    epochs: [{ epoch: 150, trainLoss: 0.1, trainAccuracy: 1, testLoss: 0.2, testAccuracy: 0.9 }],
    finalTestAccuracy: 0.9,
    spurious,
    wallTimeMs: 1000,
  };
  return { key: runKey(spec), experiment: 'spurious', status: 'ok', spec, record };
}

/** Rows `| cells... |` of a Markdown table whose first cells are `first`. */
function row(md: string, ...first: string[]): string[] {
  const line = md.split('\n').find((l) => l.startsWith(`| ${first.join(' | ')} |`));
  assert.ok(line, `a row starting ${first.join(' | ')} in:\n${md}`);
  return line.slice(2, -2).split(' | ');
}

describe('the spurious report', () => {
  it('tables per s, model and N; each model against itself at s = 0.5 and pMoE against the CNN, paired by seed; routing; a figure', async () => {
    const dir = await tempDir();
    try {
      // Worst group (%): CNN 90, 92 at s = 0.5 and 40, 50 at 0.99; joint 94, 96 and 80, 84.
      const lines = [
        spuriousLine('cnn', 0.5, 0, 0.9, 0.95, 0.95),
        spuriousLine('cnn', 0.5, 1, 0.92, 0.96, 0.96),
        spuriousLine('cnn', 0.99, 0, 0.4, 0.7, 0.45),
        spuriousLine('cnn', 0.99, 1, 0.5, 0.75, 0.55),
        spuriousLine('joint', 0.5, 0, 0.94, 0.97, 0.97),
        spuriousLine('joint', 0.5, 1, 0.96, 0.98, 0.98),
        spuriousLine('joint', 0.99, 0, 0.8, 0.9, 0.85),
        spuriousLine('joint', 0.99, 1, 0.84, 0.92, 0.87),
      ];
      const path = await writeResults(dir, 'spurious.jsonl', lines);
      const out = join(dir, 'report');
      const summary = await writeReport([path], out, { now: new Date('2025-01-02T03:04:05Z') });
      assert.deepEqual(
        summary.experiments.map((e) => [e.experiment, e.okRuns, e.points]),
        [['spurious', 8, 4]],
      );
      const md = await readFile(join(out, 'spurious.md'), 'utf8');
      assert.deepEqual(row(md, '0.99', 'CNN', '200').slice(3, 8), ['2', '72.5 ± 3.5', '45.0 ± 7.1', '50.0 ± 7.1', '90.0 ± 0.0']);
      // Routing: the most one expert takes, averaged over the classes: (0.9 + 0.7) / 2 and (0.6 + 0.4) / 2.
      assert.deepEqual(row(md, '0.5', 'joint pMoE', '200').slice(-2), ['80.0 ± 0.0', '50.0 ± 0.0']);
      // joint − CNN worst group at 0.99: +40, +34 -> +37 ± 4.24; 95% t interval with 1 dof: 37 ± 12.706 * 3.
      assert.deepEqual(row(md, 'joint pMoE − CNN', '0.99', 'worst group'), ['joint pMoE − CNN', '0.99', 'worst group', '2', '+37.00', '[-1.1, +75.1]']);
      // CNN at 0.99 against itself at 0.5: -50, -42.
      assert.deepEqual(row(md, 'CNN', '0.99', 'worst group'), ['CNN', '0.99', 'worst group', '2', '-46.00', '[-96.8, +4.8]']);
      assert.match(md, /MNIST-patch, s = 0\.99: worst-group accuracy, paired on the same training sets: joint pMoE − CNN \+37\.0 points .*within the spread/);
      assert.match(md, /WRN 60, 66, 65, 72, 80% against WRN-pMoE 70, 76, 78, 80, 86%/);
      const svg = await readFile(join(out, 'spurious.svg'), 'utf8');
      assert.match(svg, /MNIST-patch: balanced test accuracy against N/);
      assert.match(svg, /MNIST-patch: worst-group accuracy against N/);
      const json = JSON.parse(await readFile(join(out, 'spurious.json'), 'utf8'));
      assert.equal(json.cells.length, 4);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
