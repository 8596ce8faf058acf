import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXPERIMENTS } from '../../src/experiments/registry.js';
import type { ResultLine } from '../../src/experiments/results-file.js';
import { runScaling, scalingRunInfo, scalingSchema, type SpecRunner } from '../../src/experiments/scaling.js';
import { inShard, runKey } from '../../src/experiments/shard.js';
import { sweepStatus, type StatusInput } from '../../src/experiments/sweep-status.js';
import { regimeSettings } from '../../src/experiments/scaling-regimes.js';
import type { RunRecord } from '../../src/training/run.js';
import { parseOptions } from '../../src/util/options.js';

type Line = StatusInput['lines'][number];
const line = (experiment: string, key: string, status: 'ok' | 'failed' = 'ok'): Line => ({ experiment, key, status });

describe('sweepStatus: a fixed sweep', () => {
  // fig4 --quick: 3 sizes x 3 models x 1 seed = 9 runs.
  const plan = EXPERIMENTS.fig4.specs(parseOptions(EXPERIMENTS.fig4.schema, EXPERIMENTS.fig4.quick, 'fig4')).map((spec) => ({ key: runKey(spec) }));
  const shard = (index: number) => inShard(plan, { index, count: 3 });

  it('per shard: done, failed and missing of the planned runs, shards without a file too; the quick plan is recognised', async () => {
    const inputs: StatusInput[] = [
      { path: 'r/fig4-quick.shard-1-of-3.jsonl', shard: { index: 1, count: 3 }, lines: shard(1).map(({ key }) => line('fig4', key)) },
      // Shard 2: one run failed, one never ran, one failed and then succeeded on a rerun.
      {
        path: 'r/fig4-quick.shard-2-of-3.jsonl',
        shard: { index: 2, count: 3 },
        lines: [line('fig4', shard(2)[0].key, 'failed'), line('fig4', shard(2)[2].key, 'failed'), line('fig4', shard(2)[2].key)],
      },
    ];
    const [status] = await sweepStatus(inputs);
    assert.equal(status.experiment, 'fig4');
    assert.equal(status.settings, 'quick');
    assert.deepEqual([status.planned, status.done, status.failed, status.missing, status.unplanned], [9, 4, 1, 4, 0]);
    assert.deepEqual(
      status.shards.map((row) => [row.shard?.index, row.planned, row.done, row.failed, row.missing, row.files.length]),
      [
        [1, 3, 3, 0, 0, 1],
        [2, 3, 1, 1, 1, 1],
        [3, 3, 0, 0, 3, 0],
      ],
    );
  });

  it('runs of other settings are not counted as planned; with no match the plan is unknown', async () => {
    const [mixed] = await sweepStatus([
      { path: 'fig4.jsonl', lines: [...plan.slice(0, 2).map(({ key }) => line('fig4', key)), line('fig4', 'feedfacefeedface')] },
    ]);
    assert.deepEqual([mixed.settings, mixed.planned, mixed.done, mixed.missing, mixed.unplanned], ['quick', 9, 2, 7, 1]);
    const [unknown] = await sweepStatus([{ path: 'fig4.jsonl', lines: [line('fig4', 'feedfacefeedface')] }]);
    assert.deepEqual([unknown.settings, unknown.planned, unknown.done], [null, null, 1]);
    // The settings the user names are the only candidate.
    const [given] = await sweepStatus([{ path: 'fig4.jsonl', lines: plan.map(({ key }) => line('fig4', key)) }], { overrides: { seeds: 2 } });
    assert.deepEqual([given.settings, given.planned, given.done, given.unplanned], ['given', (90 * 2) / 5, 0, 9]);
  });

  it('one row per sweep: a --quick file beside the full one has its own plan, not "runs not in this plan"', async () => {
    const full = EXPERIMENTS.fig4.specs(parseOptions(EXPERIMENTS.fig4.schema, {}, 'fig4')).map((spec) => runKey(spec));
    const statuses = await sweepStatus([
      { path: 'results/fig4.jsonl', lines: full.map((key) => line('fig4', key)) },
      { path: 'results/fig4-quick.jsonl', lines: plan.map(({ key }) => line('fig4', key)) },
    ]);
    assert.deepEqual(
      statuses.map((s) => [s.sweep, s.settings, s.planned, s.done, s.missing, s.unplanned]),
      [
        ['fig4', 'default', 90, 90, 0, 0],
        ['fig4-quick', 'quick', 9, 9, 0, 0],
      ],
    );
  });

  it('one row per experiment', async () => {
    const statuses = await sweepStatus([{ path: 'a.jsonl', lines: [line('fig4', plan[0].key), line('custom', 'k1'), line('custom', 'k2', 'failed')] }]);
    assert.deepEqual(
      statuses.map((s) => [s.experiment, s.done, s.failed]),
      [
        ['custom', 1, 1],
        ['fig4', 1, 0],
      ],
    );
  });
});

describe('sweepStatus: scaling (adaptive)', () => {
  const overrides = { patchCounts: [4, 8], patchesPerExpert: [1, 2], seeds: 2, low: 4, high: 64, tolerance: 0.5, requiredShare: 0.5 };
  const settings = parseOptions(scalingSchema, overrides, 'scaling');
  /** Trains nothing: a run succeeds when N >= 3 n (the fake law), and its line is kept. */
  const fakeRunner =
    (lines: ResultLine[], limit = Infinity): SpecRunner =>
    async (specs) => {
      const out = specs.map((spec) => {
        const key = runKey(spec);
        const found = lines.find((l) => l.key === key);
        if (found) return found;
        if (lines.length >= limit) throw new Error('killed');
        const info = scalingRunInfo(spec)!;
        const record = { finalTestAccuracy: info.trainSize >= 3 * info.cell.n ? 0.99 : 0.5, epochs: [] } as unknown as RunRecord;
        const made: ResultLine = { key, experiment: 'scaling', status: 'ok', spec, record };
        lines.push(made);
        return made;
      });
      return { lines: out, ran: 0 };
    };

  it('replays each shard: a finished shard has nothing missing, a killed one the rest of its round', async () => {
    const whole: ResultLine[] = [];
    const outcome = await runScaling(settings, { runSpecs: fakeRunner(whole) });
    const first: ResultLine[] = [];
    const second: ResultLine[] = [];
    await runScaling(settings, { runSpecs: fakeRunner(first), shard: { index: 1, count: 2 } });
    await assert.rejects(runScaling(settings, { runSpecs: fakeRunner(second, 7), shard: { index: 2, count: 2 } }), /killed/);
    const status = (
      await sweepStatus(
        [
          { path: 'scaling.shard-1-of-2.jsonl', shard: { index: 1, count: 2 }, lines: first },
          { path: 'scaling.shard-2-of-2.jsonl', shard: { index: 2, count: 2 }, lines: second },
        ],
        { overrides },
      )
    )[0];
    assert.equal(status.adaptive, true);
    const [one, two] = status.shards;
    assert.deepEqual([one.planned, one.done, one.missing], [first.length, first.length, 0]);
    assert.equal(two.done, 7);
    // Two seeds per query: 7 runs leave one query of the round half done, and the round's other queries untouched.
    assert.ok(two.missing >= 1 && (two.done + two.missing) % 2 === 0, `missing ${two.missing}`);
    // The whole grid run at once: every run planned so far is done.
    const complete = (await sweepStatus([{ path: 'scaling.jsonl', lines: whole }], { overrides }))[0];
    assert.deepEqual([complete.planned, complete.done, complete.missing], [outcome.runs, new Set(whole.map((l) => l.key)).size, 0]);
  });

  it("a pmoe scaling-regimes file is its own sweep, replayed with its regime's settings", async () => {
    const [{ settings: regime }] = regimeSettings({ regimes: ['noise-low'] }, true);
    const lines: ResultLine[] = [];
    const outcome = await runScaling(regime, { runSpecs: fakeRunner(lines) });
    const statuses = await sweepStatus([
      { path: 'results/scaling-regimes-noise-low-quick.jsonl', lines },
      { path: 'results/scaling.jsonl', lines: [] },
    ]);
    const status = statuses.find((s) => s.sweep === 'scaling-regimes-noise-low-quick')!;
    assert.equal(status.experiment, 'scaling');
    assert.deepEqual(
      [status.settings, status.planned, status.done, status.missing, status.unplanned],
      ['regime noise-low, quick', outcome.runs, outcome.runs, 0, 0],
    );
  });
});
