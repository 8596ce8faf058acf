import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fig6 } from '../../src/experiments/fig6.js';
import type { ResultLine } from '../../src/experiments/results-file.js';
import { runKey } from '../../src/experiments/shard.js';
import { isImageRunRecord, isImageRunSpec } from '../../src/training/run.js';
import { writeReport } from '../../src/report/report.js';
import { parseOptions } from '../../src/util/options.js';
import { okLine, tempDir, writeResults } from '../support/report-fixtures.js';

/** A joint run with k experts at l = 6 whose final accuracy is `percent`. */
function jointLine(trainSize: number, experts: number, seed: number, percent: number): ResultLine {
  const line = okLine('fig6', { model: 'joint', trainSize, seed, accuracy: percent / 100, patchesPerExpert: 6 });
  if (line.status !== 'ok' || isImageRunSpec(line.spec) || isImageRunRecord(line.record)) throw new Error('unreachable');
  const spec = { ...line.spec, model: { ...line.spec.model, experts, neuronsPerExpert: 5 } };
  return { ...line, key: runKey(spec), spec, record: { ...line.record, model: spec.model } };
}

describe('fig6: joint pMoE against the number of experts', () => {
  it('defaults: k = 4..20 x N = 300, 400, 500 x 5 seeds at l = 6 and 5 neurons per expert, plus the CNN at N = 1000', () => {
    const specs = fig6.specs(parseOptions(fig6.schema, {}, 'fig6'));
    assert.equal(specs.length, 5 * 3 * 5 + 5);
    assert.equal(new Set(specs.map(runKey)).size, specs.length);
    const joint = specs.filter((s) => s.training?.model === 'joint');
    assert.deepEqual([...new Set(joint.map((s) => s.model?.experts))], [4, 8, 12, 16, 20]);
    assert.ok(joint.every((s) => s.model?.patchesPerExpert === 6 && s.model?.neuronsPerExpert === 5 && s.model?.gate === 'softmax-selected'));
    assert.deepEqual([...new Set(joint.map((s) => s.data.trainSize))], [300, 400, 500]);
    const cnn = specs.filter((s) => s.training?.model === 'cnn');
    assert.deepEqual([cnn.length, cnn[0].data.trainSize, cnn[0].model?.neurons], [5, 1000, 40]);
    assert.equal(fig6.specs(parseOptions(fig6.schema, { cnnSize: 0 }, 'fig6')).filter((s) => s.training?.model === 'cnn').length, 0);
  });

  it('the report draws one line per N against k, the CNN as a flat reference, and the paper at N = 500', async () => {
    const dir = await tempDir();
    try {
      const lines = [300, 500].flatMap((N) =>
        [4, 8, 12].flatMap((k) => [0, 1].map((seed) => jointLine(N, k, seed, (N === 500 ? 95.5 : 95) + (k > 4 ? 0.5 : 0) + seed * 0.2))),
      );
      lines.push(
        okLine('fig6', { model: 'cnn', trainSize: 1000, seed: 0, accuracy: 0.952 }),
        okLine('fig6', { model: 'cnn', trainSize: 1000, seed: 1, accuracy: 0.954 }),
      );
      const path = await writeResults(dir, 'fig6.jsonl', lines);
      const out = join(dir, 'report');
      const summary = await writeReport([path], out, { now: new Date(0) });
      assert.deepEqual(
        summary.experiments.map((e) => [e.experiment, e.okRuns]),
        [['fig6', 14]],
      );
      const md = await readFile(join(out, 'fig6.md'), 'utf8');
      assert.match(md, /\| N = 500 \| 4 \| 95\.60 ± 0\.14 \| 2 \| 95\.9 \| -0\.30 \|/);
      assert.match(md, /\| N = 500 \| 8 \| 96\.10 ± 0\.14 \| 2 \| 96\.4 \| -0\.30 \|/);
      assert.match(md, /\| CNN, N = 1000 \| 20 \| 95\.30 ± 0\.14 \| 2 \|/);
      assert.match(md, /## Accuracy against k/);
      assert.match(md, /\| 500 \| k = 4: 95\.60 \| 96\.10 \| \+0\.50 \|/);
      assert.match(md, /l is not stated \(pmoe: l = 6\)/);
      const svg = await readFile(join(out, 'fig6.svg'), 'utf8');
      assert.match(svg, /ours_lines_marks/);
      assert.match(svg, /paper_lines_marks/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
