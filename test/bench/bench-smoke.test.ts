import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runBench, SMOKE_DEFAULTS, CASE_IDS, GPU_PEAK_NOTE, type BenchResult, type SideResult } from '../../bench/run.js';
import { formatReport } from '../../bench/report.js';
import { DEFAULT_PYTHON } from '../../bench/torch-peer.js';

/** Timing figures are only checked to be numbers: no test asserts a time. */
function assertFiniteSide(side: SideResult | null, label: string): void {
  assert.ok(side, `${label}: no figures`);
  for (const key of ['medianMs', 'p10Ms', 'p90Ms', 'gflops', 'peakFraction'] as const) {
    assert.ok(Number.isFinite(side[key]) && side[key] >= 0, `${label}.${key} = ${side[key]}`);
  }
}

function assertChecksPass(result: BenchResult): void {
  const failed = result.checks.filter((check) => !check.ok);
  assert.deepEqual(failed, [], `failed checks: ${JSON.stringify(failed)}`);
  assert.equal(result.ok, true);
}

describe('bench smoke mode', () => {
  it('runs a few steps of every case; finite results; pmoe and the PyTorch reference agree', async (t) => {
    const python = process.env.PMOE_BENCH_PYTHON ?? DEFAULT_PYTHON;
    const result = await runBench({ ...SMOKE_DEFAULTS, smoke: true, cases: [...CASE_IDS], python });
    const { a, b, c, d, e, f } = result.cases;
    // The SIMD peak: positive on both figures, and every case's fraction is its GFLOP/s over the two-thread one.
    assert.ok(result.peak.oneThread > 0 && result.peak.twoThreads > 0, `peak ${JSON.stringify(result.peak)}`);
    assert.ok(Math.abs(d!.pmoe.peakFraction * result.peak.twoThreads - d!.pmoe.gflops) <= 1e-9 * d!.pmoe.gflops);
    assertFiniteSide(result.ceiling.pmoe, 'ceiling.pmoe');
    for (const [id, entry] of Object.entries({ a, b, c, d, e, 'e-dense': e?.dense, f })) assertFiniteSide(entry?.pmoe ?? null, `${id}.pmoe`);
    assert.ok(Number.isFinite(e?.flopRatio) && e!.flopRatio > 0.25 && e!.flopRatio < 0.27, `e flop ratio ${e?.flopRatio}`);
    // d and f count the direct algorithm's FLOPs; pmoe's Winograd convolutions do fewer, and the result says how many.
    // d's fused step (training/fused-wrn.ts) convolves directly for now: it reports no performed FLOPs then.
    for (const [id, entry] of Object.entries({ d, f })) {
      const performed = entry!.performedFlopsPerStep;
      if (id === 'd' && performed === undefined) continue;
      assert.ok(performed !== undefined && performed > 0.2 * entry!.flopsPerStep && performed < entry!.flopsPerStep, `${id} performed FLOPs ${performed}`);
    }
    const report = formatReport(result);
    assert.match(report, /as done/);
    assert.match(report, /a fraction of the peak above 100 % is possible/);
    const isRatio = (value: number) => Number.isFinite(value) && value >= 0;
    assert.ok(isRatio(e!.timeRatio.pmoe) && isRatio(e!.timeRatio.pmoeSeparate), `e time ratios ${JSON.stringify(e?.timeRatio)}`);
    // Losses and outputs finite after the steps, no tensor leaks: checks on the pmoe side in either mode.
    for (const id of ['a', 'b', 'c', 'd']) {
      assert.ok(
        result.checks.some((check) => check.case === id && check.what === 'pmoe loss finite after the steps' && check.ok),
        `${id} loss check`,
      );
    }
    assertChecksPass(result);
    assert.ok(!result.notes.includes(GPU_PEAK_NOTE), 'on wasm beside a CPU peer the peak fractions need no GPU note');
    if (!result.torch.available) {
      t.diagnostic(`PyTorch is not available, so only pmoe's path was checked: ${result.torch.note}`);
      assert.match(result.torch.note, /apt-get install python3-torch/);
      for (const entry of [a, b, c, d, e, f]) assert.equal(entry?.torch, null);
      return;
    }
    assertFiniteSide(result.ceiling.torch, 'ceiling.torch');
    // Debian's PyTorch multiplies matrices through a generic BLAS: the result says so whenever it is.
    assert.equal(
      result.notes.some((note) => note.includes('generic BLAS')),
      result.torch.blas === 'generic',
    );
    for (const [id, entry] of Object.entries({ a, b, c, d, e, 'e-dense': e?.dense, f })) {
      assertFiniteSide(entry?.torch ?? null, `${id}.torch`);
      assert.ok(Number.isFinite(entry?.ratio), `${id} ratio`);
    }
    // The fast (pmoe) and reference (PyTorch) paths agree on one forward, loss and gradient of the same weights and input.
    const agreed = (id: string, what: string) => result.checks.find((check) => check.case === id && check.what === what && check.tolerance !== undefined);
    // f: the inference-mode logits (batch norm's moving statistics) of the epoch's model agree before training.
    for (const id of ['a', 'b', 'c', 'd', 'e', 'e-dense', 'f']) assert.ok(agreed(id, 'forward output')?.ok, `${id} forward agreement`);
    for (const id of ['a', 'b', 'c', 'd']) assert.ok(agreed(id, 'loss')?.ok, `${id} loss agreement`);
    // d: every trainable weight of WRN-pMoE, from the stem to the routers and the experts.
    for (const name of [
      'stem_conv/kernel',
      'block2_shortcut/kernel',
      'block3_pre1_bn/gamma',
      'moe/router/kernel',
      'moe/expert3/kernel',
      'moe/expert0/bias',
      'logits/kernel',
    ]) {
      assert.ok(agreed('d', `gradient of ${name}`)?.ok, `d gradient of ${name}`);
    }
    // Conv biases right before batch norm have zero gradient in exact arithmetic: both sides' are rounding noise.
    assert.ok(agreed('d', 'gradient of stem_conv/bias (zero up to rounding)')?.ok, 'd stem bias gradient is ~0');
    assert.ok(agreed('a', 'gradient of hidden')?.ok);
    assert.ok(agreed('b', 'gradient of experts')?.ok);
    assert.equal(agreed('b', 'gradient of routers'), undefined, 'frozen routers get no gradient');
    assert.ok(agreed('c', 'gradient of routers')?.ok);
    assert.ok(agreed('c', 'gradient of experts')?.ok);
  });

  it('--json prints one JSON object on stdout and nothing else', () => {
    const script = fileURLToPath(new URL('../../bench/bench.js', import.meta.url));
    const run = spawnSync(process.execPath, [script, '--smoke', '--json', '--cases', 'b', '--no-torch'], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const parsed = JSON.parse(run.stdout) as BenchResult;
    assert.ok(parsed.cases.b && parsed.peak.twoThreads > 0);
  });

  it('without a python that can import torch, says how to install it and still reports pmoe', async () => {
    const result = await runBench({ ...SMOKE_DEFAULTS, smoke: true, cases: ['a'], python: '/nonexistent/python3' });
    assert.equal(result.torch.available, false);
    assert.ok(!result.torch.available && /apt-get install python3-torch/.test(result.torch.note) && /\/usr\/bin\/python3/.test(result.torch.note));
    assertFiniteSide(result.cases.a?.pmoe ?? null, 'a.pmoe');
    assert.equal(result.cases.a?.torch, null);
    assert.equal(result.cases.a?.ratio, null);
    assert.equal(result.ceiling.torch, null);
    assertChecksPass(result);
  });
});
