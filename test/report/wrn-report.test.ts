import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeReport } from '../../src/report/report.js';
import { fig4Lines, imageFailedLine, imageOkLine, tempDir, writeResults } from '../support/report-fixtures.js';
import type { ResultLine } from '../../src/experiments/results-file.js';

const now = new Date('2025-01-02T03:04:05Z');

/** Rows `| cells... |` of a Markdown table whose first cells are `first`. */
function row(md: string, ...first: string[]): string[] {
  const line = md.split('\n').find((l) => l.startsWith(`| ${first.join(' | ')} |`));
  assert.ok(line, `a row starting ${first.join(' | ')} in:\n${md}`);
  return line.slice(2, -2).split(' | ');
}

describe('reports of the WRN experiments', () => {
  it("fig16: accuracy beside the paper's, the gap per N, FLOPs, parameters and times per model", async () => {
    const dir = await tempDir();
    try {
      // Seeds at accuracy mean - 1, mean + 1 (points); WRN-pMoE 60% of WRN's time per image.
      const lines = [4000, 8000].flatMap((N, i) =>
        [0, 1].flatMap((seed) => [
          imageOkLine('fig16', {
            architecture: 'wrn',
            source: 'cifar-vehicles',
            trainSize: N,
            seed,
            accuracy: ([50, 61][i] + (seed ? 1 : -1)) / 100,
            trainTimeMs: 2000 * (i + 1),
            wallTimeMs: 2500 * (i + 1),
            epochs: 50,
          }),
          imageOkLine('fig16', {
            architecture: 'wrn-pmoe',
            source: 'cifar-vehicles',
            trainSize: N,
            seed,
            accuracy: ([60, 70][i] + (seed ? 1 : -1)) / 100,
            trainTimeMs: 1200 * (i + 1),
            wallTimeMs: 1500 * (i + 1),
            epochs: 50,
          }),
        ]),
      );
      const failed = imageFailedLine(
        'fig16',
        { architecture: 'wrn-pmoe', source: 'cifar-vehicles', trainSize: 12000, seed: 3, accuracy: 0 },
        'worker process ended (SIGKILL) during the run',
      );
      const path = await writeResults(dir, 'fig16.jsonl', [...lines, failed]);
      const out = join(dir, 'report');
      const summary = await writeReport([path], out, { now });
      assert.deepEqual(
        summary.experiments.map((e) => [e.experiment, e.okRuns, e.failedRuns, e.points]),
        [['fig16', 8, 1, 4]],
      );
      const md = await readFile(join(out, 'fig16.md'), 'utf8');

      assert.match(md, /# fig16: Figure 16: WRN vs WRN-pMoE on CIFAR-Vehicles/);
      assert.deepEqual(row(md, 'WRN', '4000'), ['WRN', '4000', '50.00 ± 1.41', '2', '50.3', '-0.30']);
      assert.deepEqual(row(md, 'WRN-pMoE', '8000'), ['WRN-pMoE', '8000', '70.00 ± 1.41', '2', '71.4', '-1.40']);
      // The paper's points we did not measure stay in the table.
      assert.deepEqual(row(md, 'WRN', '20000'), ['WRN', '20000', 'not measured', '0', '77.6', '—']);
      assert.match(md, /WRN-pMoE is at or above WRN at 2 of 2 N measured/);
      assert.deepEqual(row(md, '4000'), ['4000', '+10.00', '+10.3']);

      // Cost per model: parameters, analytic FLOPs per image, time per image and epoch, achieved rate.
      // 2000 ms for 4000 images x 50 epochs, 4000 ms for 8000 x 50: 0.01 ms each; 0.072 GFLOP x 200,000 / 2 s = 7200 GFLOP/s.
      assert.deepEqual(row(md, 'WRN', '4'), ['WRN', '4', '77,508', '0.0240', '0.0720', '0.0100', '7200']);
      assert.deepEqual(row(md, 'WRN-pMoE', '4').slice(0, 5), ['WRN-pMoE', '4', '42,884', '0.0180', '0.0540']);
      assert.match(md, /WRN-pMoE's forward FLOPs per image are 75\.0% of WRN's \(25\.0% fewer\); its measured training time per image is 60\.0% of WRN's/);
      // Training time per model and N (no paper column: Table 2 is Figure 12's).
      assert.deepEqual(row(md, 'WRN-pMoE', '8000', '2'), ['WRN-pMoE', '8000', '2', '2.4 s', '3.0 s']);
      assert.doesNotMatch(md, /Table 2 \(one GPU\)/);
      assert.doesNotMatch(md, /Test accuracy per group/);
      // Wall time, failures and the protocol, as in every report.
      assert.match(md, /Wall time \(from the records\): 24\.0 s in total over 8 runs/);
      assert.match(md, /\| wrn-pmoe N=12000 seed=3 \| `[0-9a-f]{16}` \| worker process ended \(SIGKILL\) during the run \|/);
      assert.deepEqual(row(md, 'widening factor'), ['widening factor', '1', '10']);
      assert.deepEqual(row(md, 'epochs'), ['epochs', '50', '50']);

      const json = JSON.parse(await readFile(join(out, 'fig16.json'), 'utf8'));
      const wrn = json.image.costs.find((c: { series: string }) => c.series === 'WRN');
      assert.deepEqual([wrn.trainableParams, wrn.forwardFlopsPerSample, wrn.trainStepFlopsPerSample, wrn.runs], [[77508], [24e6], [72e6], 4]);
      assert.equal(json.image.trainingTime.length, 4);
      const svg = await readFile(join(out, 'fig16.svg'), 'utf8');
      assert.match(svg, /paper_lines_marks/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("fig12 shows the paper's Table 2 training times beside ours; fig11 the accuracy per group; wrn-mnist says the paper has no values", async () => {
    const dir = await tempDir();
    try {
      const fig12 = [
        imageOkLine('fig12', { architecture: 'wrn', source: 'celeba-smiling-eyeglasses', trainSize: 4000, seed: 0, accuracy: 0.7, trainTimeMs: 5000 }),
      ];
      const fig11 = [0, 1].map((seed) =>
        imageOkLine('fig11', {
          architecture: 'wrn-pmoe',
          source: 'celeba-spurious',
          trainSize: 5000,
          seed,
          accuracy: 0.7,
          groups: seed === 0 ? [0.9, 0.5, 0.6, 0.8] : [0.8, 0.5, 0.7, 0.8],
        }),
      );
      const mnist = [imageOkLine('wrn-mnist', { architecture: 'wrn', trainSize: 500, seed: 0, accuracy: 0.6 })];
      const path = await writeResults(dir, 'wrn.jsonl', [...fig12, ...fig11, ...mnist]);
      const out = join(dir, 'report');
      await writeReport([path], out, { now });

      const md12 = await readFile(join(out, 'fig12.md'), 'utf8');
      assert.deepEqual(row(md12, 'WRN', '4000', '1'), ['WRN', '4000', '1', '5.0 s', '1.2 s', '260 s']);
      assert.deepEqual(row(md12, 'WRN', '4000').slice(4), ['74.6', '-4.60']);

      const md11 = await readFile(join(out, 'fig11.md'), 'utf8');
      assert.match(md11, /## Test accuracy per group/);
      assert.deepEqual(row(md11, 'WRN-pMoE', '5000', 'smiling, black hair'), ['WRN-pMoE', '5000', 'smiling, black hair', '85.00 ± 7.07', '2']);
      assert.deepEqual(row(md11, 'WRN-pMoE', '5000', 'not smiling, black hair'), ['WRN-pMoE', '5000', 'not smiling, black hair', '65.00 ± 7.07', '2']);
      const json11 = JSON.parse(await readFile(join(out, 'fig11.json'), 'utf8'));
      assert.equal(json11.image.groupAccuracy.length, 4);
      // The spurious experiment's metrics: the worst group, and the groups against the training association (CelebA has no reversed set).
      assert.match(md11, /## Spurious feature: balanced, worst-group and reversed accuracy/);
      assert.match(md11, /smiling with blond hair, not smiling with black hair/);
      assert.deepEqual(row(md11, 'WRN-pMoE', '5000', 'worst group'), ['WRN-pMoE', '5000', 'worst group', '50.00 ± 0.00', '2']);
      assert.deepEqual(row(md11, 'WRN-pMoE', '5000', 'reversed'), ['WRN-pMoE', '5000', 'reversed', '57.50 ± 3.54', '2']);
      assert.deepEqual(row(md11, 'WRN-pMoE', '5000', 'balanced test set'), ['WRN-pMoE', '5000', 'balanced test set', '70.00 ± 0.00', '2']);

      const mdMnist = await readFile(join(out, 'wrn-mnist.md'), 'utf8');
      assert.match(mdMnist, /The paper has no MNIST-quadrant experiment .*no paper values to compare/);
      assert.deepEqual(row(mdMnist, 'WRN', '500'), ['WRN', '500', '60.00 ± —', '1']);
      assert.match(mdMnist, /## Cost per model/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the settings say the formulation, the head and, for fig15, both sources of l; one-logit runs get both accuracy rules', async () => {
    const dir = await tempDir();
    try {
      const withRecord = (line: ResultLine, model: Record<string, unknown>, record: Record<string, unknown> = {}): ResultLine => {
        if (line.status !== 'ok') throw new Error('an ok line');
        return { ...line, record: { ...line.record, ...record, model: { ...line.record.model, ...model } } as typeof line.record };
      };
      const fig10 = [0, 1].flatMap((seed) => [
        withRecord(
          imageOkLine('fig10', { architecture: 'wrn', source: 'celeba-smiling', trainSize: 2000, seed, accuracy: 0.8 }),
          { head: 'sigmoid' },
          {
            finalTestAccuracyLogitAboveHalf: 0.78 - seed / 100,
          },
        ),
        withRecord(
          imageOkLine('fig10', { architecture: 'wrn-pmoe', source: 'celeba-smiling', trainSize: 2000, seed, accuracy: 0.85 }),
          { head: 'sigmoid', formulation: 'official' },
          { finalTestAccuracyLogitAboveHalf: 0.8 },
        ),
      ]);
      const fig15 = [imageOkLine('fig15', { architecture: 'wrn-pmoe', source: 'cifar-background', trainSize: 10000, seed: 0, accuracy: 0.5 })];
      const path = await writeResults(dir, 'heads.jsonl', [...fig10, ...fig15]);
      const out = join(dir, 'report');
      await writeReport([path], out, { now });
      const md10 = await readFile(join(out, 'fig10.md'), 'utf8');
      assert.deepEqual(row(md10, 'WRN-pMoE formulation'), ['WRN-pMoE formulation', 'official', 'official']);
      assert.deepEqual(row(md10, 'output head'), ['output head', 'sigmoid', 'sigmoid (official code: --set head=sigmoid)']);
      assert.match(md10, /## Accuracy of the one-logit head under both rules/);
      assert.deepEqual(row(md10, 'WRN', '2000', '2', '80.00'), ['WRN', '2000', '2', '80.00', '77.50', '-2.50']);
      assert.deepEqual(row(md10, 'WRN-pMoE', '2000', '2', '85.00'), ['WRN-pMoE', '2000', '2', '85.00', '80.00', '-5.00']);
      const json10 = JSON.parse(await readFile(join(out, 'fig10.json'), 'utf8'));
      assert.equal(json10.image.logitRules.length, 2);
      const md15 = await readFile(join(out, 'fig15.md'), 'utf8');
      assert.deepEqual(row(md15, 'WRN-pMoE patches per expert l'), [
        'WRN-pMoE patches per expert l',
        '16',
        '16 (text); 2 (official code: --set patchesPerExpert=2)',
      ]);
      assert.deepEqual(row(md15, 'WRN-pMoE formulation'), ['WRN-pMoE formulation', 'sparse', 'official'], 'records without the field are sparse');
      assert.deepEqual(row(md15, 'output head'), ['output head', 'softmax', '—']);
      assert.doesNotMatch(md15, /under both rules/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an image run filed under a two-layer experiment is refused, naming the line; a malformed image line names the field', async () => {
    const dir = await tempDir();
    try {
      const lines = [
        ...fig4Lines({ cnn: [80], separate: [85], joint: [88] }, [100]),
        imageOkLine('fig4', { architecture: 'wrn', trainSize: 100, seed: 0, accuracy: 0.5 }),
      ];
      const mixed = await writeResults(dir, 'mixed.jsonl', lines);
      await assert.rejects(
        writeReport([mixed], join(dir, 'report'), { now }),
        /mixed\.jsonl, line 10: not a pmoe result line \(fig4 runs are two-layer runs on mnist-patch data; this one is not\)/,
      );

      const line = imageOkLine('fig16', { architecture: 'wrn', trainSize: 100, seed: 0, accuracy: 0.5 });
      const broken = JSON.parse(JSON.stringify(line));
      delete broken.record.flops;
      const path = join(dir, 'broken.jsonl');
      await writeFile(path, `${JSON.stringify(broken)}\n`);
      await assert.rejects(writeReport([path], join(dir, 'out2')), /broken\.jsonl, line 1: not a pmoe result line \(record\.flops: /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
