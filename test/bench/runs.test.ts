import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BenchResult, WorkloadResult } from '../../bench/run.js';
import { formatRuns, summariseRuns, withoutRuns } from '../../bench/runs.js';

function side(medianMs: number) {
  return { medianMs, p10Ms: medianMs, p90Ms: medianMs, samples: 1, gflops: 1, peakFraction: 0.01 };
}

function workload(pmoeMs: number, torchMs: number | null): WorkloadResult {
  return {
    title: 'a case',
    flopsPerStep: 1e6,
    pmoe: side(pmoeMs),
    torch: torchMs === null ? null : side(torchMs),
    ratio: torchMs === null ? null : pmoeMs / torchMs,
  };
}

function result(d: WorkloadResult, ok = true): BenchResult {
  return { machine: { otherCores: 0.5 }, peak: { oneThread: 50, twoThreads: 100 }, cases: { d }, ok } as unknown as BenchResult;
}

describe('bench --runs (bench/runs.ts)', () => {
  it("takes per case the median of the runs' medians and of each run's own ratio", () => {
    const summary = summariseRuns([result(workload(50, 25)), result(workload(60, 100)), result(workload(40, 50))]);
    const d = summary.cases.d;
    assert.deepEqual(d.pmoeMs, [50, 60, 40]);
    assert.deepEqual(d.ratios, [2, 0.6, 0.8]);
    // The median ratio is a run's own ratio (0.8), not the ratio of the medians (50 / 50).
    assert.deepEqual(d.median, { pmoeMs: 50, torchMs: 50, ratio: 0.8 });
    assert.equal(summary.ok, true);
    assert.match(formatRuns(summary), /\| d \| 50\.0 \| 50\.0 \| 0\.800 \| 2\.00 \/ 0\.600 \/ 0\.800 \|/);
  });

  it('leaves out runs without a peer from the peer medians; a failed check fails the summary', () => {
    const summary = summariseRuns([result(workload(50, null)), result(workload(60, 30), false)]);
    assert.deepEqual(summary.cases.d.median, { pmoeMs: 55, torchMs: 30, ratio: 2 });
    assert.equal(summary.ok, false);
  });

  it('passes every argument but --runs on to each run', () => {
    assert.deepEqual(withoutRuns(['--cases', 'd,f', '--runs', '3', '--json']), ['--cases', 'd,f', '--json']);
    assert.deepEqual(withoutRuns(['--runs=3', '--steps', '5']), ['--steps', '5']);
  });
});
