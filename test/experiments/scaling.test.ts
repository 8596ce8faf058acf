import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { maxEvaluations } from '../../src/analysis/bisection.js';
import { experimentByName } from '../../src/experiments/registry.js';
import { appendResult, readResults, type ResultLine } from '../../src/experiments/results-file.js';
import {
  cellLabel,
  epochsFor,
  runScaling,
  scalingCells,
  scalingRunInfo,
  scalingSchema,
  scalingSpec,
  SCALING_QUICK,
  type ScalingCell,
  type ScalingOutcome,
  type SpecRunner,
} from '../../src/experiments/scaling.js';
import { runKey } from '../../src/experiments/shard.js';
import { writeReport } from '../../src/report/report.js';
import { buildScalingReport, readScalingLines } from '../../src/report/scaling-report.js';
import type { RunRecord, RunSpec } from '../../src/training/run.js';
import { parseOptions } from '../../src/util/options.js';

const settings = parseOptions(
  scalingSchema,
  { patchCounts: [4, 8, 16], patchesPerExpert: [1, 2], seeds: 3, requiredShare: 0.6, low: 4, high: 256, tolerance: 0.25 },
  'scaling',
);

/** The fake law: the N a seed needs (seed s needs 5% more per seed step). */
function neededBySeed(cell: ScalingCell, seed: number): number {
  const base = cell.model === 'cnn' ? cell.n ** 2 : cell.model === 'separate' ? 2 * (cell.n / cell.l!) ** 1.5 : cell.n / cell.l!;
  return base * (1 + 0.05 * seed);
}
/** 2 of 3 seeds (share 0.6) must succeed: seeds 0 and 1. */
const trueThreshold = (cell: ScalingCell) => Math.ceil(neededBySeed(cell, 1) - 1e-9);

/**
 * A runner that trains nothing: it writes a line per run into a results file the way `runSweep`
 * does (skipping keys already there), with an accuracy from the fake law; it can die after
 * `killAfter` new runs, as a killed sweep would.
 */
function fakeRunner(resultsPath: string, killAfter = Infinity): SpecRunner & { trained: number; batches: RunSpec[][] } {
  const runner = Object.assign(
    async (specs: readonly RunSpec[]) => {
      runner.batches.push([...specs]);
      const finished = new Map(readResults(resultsPath).lines.map((line) => [line.key, line]));
      let ran = 0;
      for (const spec of specs) {
        const key = runKey(spec);
        if (finished.has(key)) continue;
        if (runner.trained >= killAfter) throw new Error('killed');
        const info = scalingRunInfo(spec)!;
        const accuracy = info.trainSize >= neededBySeed(info.cell, info.seed) ? 0.97 : 0.6;
        const record = {
          data: spec.data,
          model: spec.model,
          training: spec.training,
          backend: 'fake',
          lStar: 1,
          epochs: [],
          finalTestAccuracy: accuracy,
          wallTimeMs: 1,
        } as unknown as RunRecord;
        const line: ResultLine = { key, experiment: 'scaling', status: 'ok', spec, record };
        appendResult(resultsPath, line);
        finished.set(key, line);
        runner.trained++;
        ran++;
      }
      return { lines: specs.map((spec) => finished.get(runKey(spec))!), ran };
    },
    { trained: 0, batches: [] as RunSpec[][] },
  );
  return runner;
}

const comparableCells = (outcome: ScalingOutcome) => outcome.cells.map((c) => ({ label: c.label, result: c.result, evaluations: c.evaluations }));

async function withDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'pmoe-scaling-'));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('scaling experiment: grid and specs', () => {
  it('the grid keeps l <= n and l >= l*, runs the CNN once per n, and skips joint l = 1 under the softmax over the selected', () => {
    const { cells, skipped } = scalingCells(parseOptions(scalingSchema, {}, 'scaling'));
    assert.equal(cells.filter((c) => c.model === 'cnn').length, 4);
    assert.equal(cells.filter((c) => c.model === 'separate').length, 16);
    assert.deepEqual(
      cells
        .filter((c) => c.model === 'joint')
        .map((c) => c.l)
        .filter((l) => l === 1),
      [],
    );
    assert.ok(skipped.some((s) => s.cell.model === 'joint' && s.cell.l === 1 && /never learns/.test(s.reason)));
    const withConfusers = scalingCells(parseOptions(scalingSchema, { confusers: 1, patchCounts: [4], patchesPerExpert: [1, 2, 8] }, 'scaling'));
    assert.deepEqual(withConfusers.cells.map(cellLabel), ['cnn n=4', 'separate n=4 l=2', 'joint n=4 l=2']);
    assert.ok(withConfusers.skipped.some((s) => /l = 1 < l\* = 2/.test(s.reason)) && withConfusers.skipped.some((s) => /l = 8 > n = 4/.test(s.reason)));
    assert.throws(() => parseOptions(scalingSchema, { neurons: 15 }, 'scaling'), /neurons: must be even/);
    assert.throws(() => parseOptions(scalingSchema, { low: 100, high: 10 }, 'scaling'), /high: must be >= low/);
    assert.throws(() => experimentByName('scaling'), /adaptive.*pmoe scaling/);
  });

  it('specs: same data and widths across cells, a fixed step budget, the learning rate scaled by the patches pooled; read back from the spec', () => {
    const o = parseOptions(scalingSchema, {}, 'scaling');
    const cnn = scalingSpec(o, { model: 'cnn', n: 32, l: null }, 100, 3);
    const separate = scalingSpec(o, { model: 'separate', n: 32, l: 4 }, 100, 3);
    const joint = scalingSpec(o, { model: 'joint', n: 32, l: 4 }, 8, 3);
    assert.deepEqual(cnn.data, {
      source: 'synthetic',
      trainSize: 100,
      testSize: 500,
      d: 16,
      n: 32,
      p: 8,
      deltaD: 0.3,
      deltaR: 0.15,
      noise: 0.5,
      confusers: 0,
      seed: 3,
    });
    assert.deepEqual([cnn.model?.neurons, separate.model?.neuronsPerExpert, joint.model?.neuronsPerExpert, joint.model?.experts], [16, 8, 4, 4]);
    assert.deepEqual([cnn.training?.learningRate, separate.training?.learningRate], [0.25 * 32, 0.25 * 4]);
    assert.equal(cnn.training?.epochs, 80, '400 steps of 5 batches');
    assert.equal(joint.training?.epochs, 400, 'one batch per epoch at N = 8');
    assert.equal(epochsFor(o, 2048), 4);
    assert.equal(separate.training?.routerEpochs, 10);
    const info = scalingRunInfo(separate)!;
    assert.deepEqual([info.cell, info.trainSize, info.seed], [{ model: 'separate', n: 32, l: 4 }, 100, 3]);
    assert.equal(scalingRunInfo(scalingSpec(o, { model: 'separate', n: 8, l: 1 }, 900, 0))!.protocol, info.protocol, 'one protocol across n, l, N and seeds');
    assert.notEqual(scalingRunInfo(scalingSpec({ ...o, noise: 0.4 }, { model: 'separate', n: 32, l: 4 }, 100, 3))!.protocol, info.protocol);
    const quick = parseOptions(scalingSchema, SCALING_QUICK, 'scaling');
    assert.ok(scalingCells(quick).cells.length < scalingCells(o).cells.length && quick.seeds < o.seeds);
  });
});

describe('scaling driver (fake runner: no training)', () => {
  it('proceeds in rounds: every open cell asks one N, all its seeds run together; the thresholds are the fake law within tolerance', () =>
    withDir(async (dir) => {
      const runner = fakeRunner(join(dir, 'scaling.jsonl'));
      const rounds: { round: number; open: number; runs: number }[] = [];
      const outcome = await runScaling(settings, { runSpecs: runner, onRound: (r) => rounds.push(r) });
      const cellCount = scalingCells(settings).cells.length;
      assert.equal(cellCount, 12);
      assert.equal(rounds[0].open, cellCount);
      assert.deepEqual(
        outcome.rounds[0].queries.map((q) => q.trainSize),
        Array(cellCount).fill(Math.round(Math.sqrt(4 * 256))),
      );
      for (const [i, round] of rounds.entries()) {
        assert.equal(round.runs, round.open * settings.seeds);
        assert.equal(runner.batches[i].length, round.runs);
        if (i > 0) assert.ok(round.open <= rounds[i - 1].open, 'cells only close');
        const seedsPerCell = new Map<string, number[]>();
        for (const spec of runner.batches[i]) {
          const info = scalingRunInfo(spec)!;
          const label = cellLabel(info.cell);
          seedsPerCell.set(label, [...(seedsPerCell.get(label) ?? []), info.seed]);
          assert.ok(info.trainSize >= settings.low && info.trainSize <= settings.high);
        }
        assert.ok(
          [...seedsPerCell.values()].every((seeds) => seeds.join() === '0,1,2'),
          'one N per cell per round, every seed',
        );
      }
      assert.ok(rounds.length <= maxEvaluations({ low: settings.low, high: settings.high, tolerance: settings.tolerance }));
      assert.equal(outcome.runs, runner.trained, 'no run twice');

      for (const cell of outcome.cells) {
        const truth = trueThreshold(cell.cell);
        if (truth <= settings.low) assert.deepEqual([cell.result.status, cell.result.threshold], ['at or below low', settings.low], cell.label);
        else if (truth > settings.high) assert.deepEqual([cell.result.status, cell.result.threshold], ['not reached', null], cell.label);
        else {
          assert.equal(cell.result.status, 'found', cell.label);
          assert.ok(cell.result.threshold! >= truth && cell.result.threshold! < truth * 1.25, `${cell.label}: ${cell.result.threshold} vs ${truth}`);
        }
        assert.equal(cell.lStar, 1);
      }
      const statuses = new Set(outcome.cells.map((c) => c.result.status));
      assert.deepEqual([...statuses].sort(), ['at or below low', 'found', 'not reached'], 'the fake law exercises every status');
    }));

  it('resumes after a kill and replays the bisections from the results file: same answers, no run twice', () =>
    withDir(async (dir) => {
      const whole = fakeRunner(join(dir, 'whole.jsonl'));
      const reference = await runScaling(settings, { runSpecs: whole });

      // Rerunning on a finished file trains nothing and answers the same.
      const again = fakeRunner(join(dir, 'whole.jsonl'));
      const replayed = await runScaling(settings, { runSpecs: again });
      assert.equal(again.trained, 0);
      assert.equal(replayed.ranNow, 0);
      assert.deepEqual(comparableCells(replayed), comparableCells(reference));
      assert.deepEqual(
        replayed.rounds.map((r) => r.queries),
        reference.rounds.map((r) => r.queries),
      );

      // Killed twice mid-round, then finished: the same answers, every run trained exactly once.
      const path = join(dir, 'killed.jsonl');
      const first = fakeRunner(path, 50);
      await assert.rejects(runScaling(settings, { runSpecs: first }), /killed/);
      const second = fakeRunner(path, 40);
      await assert.rejects(runScaling(settings, { runSpecs: second }), /killed/);
      const last = fakeRunner(path);
      const resumed = await runScaling(settings, { runSpecs: last });
      assert.deepEqual(comparableCells(resumed), comparableCells(reference));
      assert.equal(first.trained + second.trained + last.trained, whole.trained);
      assert.equal(readResults(path).lines.length, whole.trained);
    }));

  it('the report recomputes every cell from the results file alone and agrees with the driver; the fit sees the fake exponent', () =>
    withDir(async (dir) => {
      const path = join(dir, 'scaling.jsonl');
      const outcome = await runScaling(settings, { runSpecs: fakeRunner(path) });
      const { lines } = readScalingLines([path]);
      const report = buildScalingReport(lines, { requiredShare: 0.6, search: settings }, { sources: [path], generatedAt: new Date(0), regenerate: 'x' });
      for (const cell of outcome.cells) {
        const reported = report.cells.find((c) => c.label === cell.label)!;
        const status = { found: 'found', 'at or below low': 'at or below', 'not reached': 'not reached', open: '?' }[cell.result.status];
        assert.deepEqual([reported.status, reported.nNeeded, reported.complete], [status, cell.result.threshold, true], cell.label);
        if (cell.result.status === 'found') assert.equal(reported.failedBelow, cell.result.bracket[0]);
      }
      // Separate pMoE: N = 2 (n/l)^1.5 over cells n/l = 2..16, thresholds quantised by the 25% tolerance.
      const separate = report.fits.find((f) => f.model === 'separate')!;
      assert.ok(separate.fit && Math.abs(separate.fit.slope - 1.5) < 0.3, `separate slope ${separate.fit?.slope}`);
      assert.equal(report.warnings.length, 0, report.warnings.join('; '));
      // A finished file read without the search settings gives the same numbers, with completeness unknown.
      const bare = buildScalingReport(lines, { requiredShare: 0.6 }, { sources: [path], generatedAt: new Date(0), regenerate: 'x' });
      assert.deepEqual(
        bare.cells.map((c) => [c.label, c.status, c.nNeeded]),
        report.cells.map((c) => [c.label, c.status, c.nNeeded]),
      );
      assert.ok(bare.cells.every((c) => c.complete === null));
    }));

  it('pmoe report on a scaling results file writes scaling.md/.svg/.json with the table, censored cells shown honestly, fits and the theory', () =>
    withDir(async (dir) => {
      const path = join(dir, 'scaling.jsonl');
      await runScaling(settings, { runSpecs: fakeRunner(path) });
      const out = join(dir, 'report');
      const summary = await writeReport([path], out, { now: new Date('2025-01-02T03:04:05Z') });
      assert.deepEqual(
        summary.experiments.map((e) => [e.experiment, e.points]),
        [['scaling', 12]],
      );
      assert.deepEqual((await readdir(out)).sort(), ['scaling.json', 'scaling.md', 'scaling.svg', 'scaling.vl.json']);
      const md = await readFile(join(out, 'scaling.md'), 'utf8');
      // Default required share 0.8 of 3 seeds means all 3; the CNN at n = 16 needs 16^2 * 1.1 > 256.
      assert.match(md, /\| CNN \| 16 \| — \| 16 \| not reached \(> 256\) \|/);
      assert.match(md, /\| joint pMoE \| 4 \| 2 \| 2 \| <= 4 \|/);
      assert.match(md, /Theta\(\(n\/l\)\^8\)/);
      assert.match(md, /not tight: a measured exponent well below 8 is expected/);
      assert.match(md, /\| separate pMoE \| n\/l \| 6 \| 1\.\d\d \| 95%: \[/);
      const svg = await readFile(join(out, 'scaling.svg'), 'utf8');
      assert.match(svg, /<svg/);
      assert.match(svg, /fit_lines_marks/);
      const json = JSON.parse(await readFile(join(out, 'scaling.json'), 'utf8')) as { cells: unknown[]; fits: { series: string }[] };
      assert.equal(json.cells.length, 12);
      assert.deepEqual(
        json.fits.map((f) => f.series),
        ['CNN', 'separate pMoE', 'joint pMoE'],
      );
    }));
});
