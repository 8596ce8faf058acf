import { AGREEMENT_TOLERANCE } from './agreement.js';
import type { BenchResult, SideResult, WorkloadResult } from './run.js';

/** Other processes' average CPU (in cores) above which the report warns that the figures are unreliable. */
const BUSY_CORES = 0.25;

function sig(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return '0';
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  return value.toFixed(Math.max(0, digits - 1 - magnitude));
}

function time(side: SideResult | null): string {
  return side ? `${sig(side.medianMs)} [${sig(side.p10Ms)}-${sig(side.p90Ms)}]` : '-';
}

function rate(side: SideResult | null): string {
  return side ? sig(side.gflops) : '-';
}

function ofPeak(side: SideResult | null): string {
  return side ? `${(100 * side.peakFraction).toFixed(side.peakFraction < 0.1 ? 1 : 0)}%` : '-';
}

/** pmoe's GFLOP/s of the FLOPs its kernels do, where fewer than the count's (d, f: Winograd), else '-'. */
function performedRate(result: WorkloadResult): string {
  return result.performedFlopsPerStep === undefined ? '-' : sig((result.pmoe.gflops * result.performedFlopsPerStep) / result.flopsPerStep);
}

function row(id: string, result: WorkloadResult): string[] {
  return [
    `${id} ${result.title}`,
    sig(result.flopsPerStep / 1e6),
    time(result.pmoe),
    rate(result.pmoe),
    ofPeak(result.pmoe),
    performedRate(result),
    time(result.torch),
    rate(result.torch),
    ofPeak(result.torch),
    result.ratio === null ? '-' : sig(result.ratio),
  ];
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n');
}

/** The human-readable report: header, one row per workload, case notes, and the checks. */
export function formatReport(result: BenchResult): string {
  const { machine, settings, torch } = result;
  const lines: string[] = [];
  const where = torch.available && torch.device !== 'cpu' ? `on ${torch.device}` : `${torch.available ? torch.threads : 0} thread(s)`;
  const peer = torch.available ? `PyTorch ${torch.torch} (${where}, python ${torch.python})` : 'no PyTorch peer';
  lines.push(
    `pmoe bench${settings.smoke ? ' (smoke)' : ''}: tfjs ${machine.tfjs} ${machine.backend} (${machine.threads === 1 ? '1 thread' : `${machine.threads} threads for convolutions and large expert products, 1 for the rest`}) vs ${peer}`,
  );
  const other = machine.otherCores === null ? 'not measured' : `${machine.otherCores} cores on average`;
  lines.push(
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.os}, node ${machine.node}; ` +
      `load average ${machine.loadAverage} at start; other processes' CPU during the run: ${other}`,
  );
  if (machine.otherCores !== null && machine.otherCores > BUSY_CORES) {
    lines.push(
      `WARNING: other work took ${machine.otherCores} of ${machine.cores} cores during the run; PyTorch with several threads ` +
        'suffers most from sharing (try --torch-threads 1). Treat these figures as unreliable and re-run on a quiet machine.',
    );
  }
  lines.push(
    `per step: median [p10-p90] ms over ${settings.rounds} round(s) x ${settings.steps} step(s) per side, pmoe and PyTorch blocks alternating` +
      ` (${settings.warmup} warm-up step(s) each); pmoe's model steps on its ${settings.path} path. Shared machines are noisy: re-run before relying on a figure.`,
  );
  if (!torch.available) lines.push(torch.note);
  const { peak } = result;
  lines.push(
    `peak: 128-bit SIMD ${peak.instruction} in registers through wasm, ${sig(peak.oneThread)} GFLOP/s on one thread, ${sig(peak.twoThreads)} on two ` +
      '(best of the rounds); "of peak" is each GFLOP/s over the two-thread figure.',
  );
  if (peak.twoThreads < 1.5 * peak.oneThread) {
    lines.push("WARNING: two threads reached under 1.5x one thread's peak: other work held a core while it was measured, so the fractions of peak read high.");
  }
  for (const note of result.notes) lines.push(`NOTE: ${note}`);
  lines.push('');
  const rows: string[][] = [['case', 'MFLOP', 'pmoe ms', 'GFLOP/s', 'of peak', 'as done', 'torch ms', 'GFLOP/s', 'of peak', 'pmoe/torch']];
  rows.push(row('ceiling', { ...result.ceiling, ratio: result.ceiling.torch ? result.ceiling.pmoe.medianMs / result.ceiling.torch.medianMs : null }));
  const { a, b, c, d, e, f } = result.cases;
  if (a) rows.push(row('a', a));
  if (b) rows.push(row('b', b));
  if (c) rows.push(row('c', c));
  if (d) rows.push(row('d', d));
  if (e) {
    rows.push(row('e', e));
    rows.push(row('e', e.dense));
  }
  if (f) rows.push(row('f', f));
  lines.push(table(rows));
  lines.push('');
  if (e) {
    const torchRatio = e.timeRatio.torch === null ? '' : `, PyTorch ${sig(e.timeRatio.torch)}`;
    lines.push(
      `e: PatchMoE / dense, time: pmoe ${sig(e.timeRatio.pmoe)} (median over rounds of adjacent blocks; of the two cases' own medians ${sig(e.timeRatio.pmoeSeparate)})${torchRatio}; FLOPs: ${sig(e.flopRatio)}`,
    );
  }
  if (torch.available) {
    const cnn = torch.cnnFormulation === 'conv' ? '28x28 stride-28 conv2d over [20,1,112,112]' : 'a linear layer over the patches';
    lines.push(
      `PyTorch side: a = ${cnn}; b, c = topk + gather + einsum with autograd; d = the same WRN-pMoE in NCHW with nn.Conv2d and nn.BatchNorm2d; e = the same as b, c with scatter, and nn.Conv2d 1x1 (NCHW); f = d's model, an epoch of shuffled batches and the evaluation under torch.no_grad.`,
    );
  }
  lines.push(
    'FLOPs: matrix products and convolutions only; a-c count the work a step must do (2x the forward: their products read data and their output layer is fixed), d and f 3x the forward of trained products (bench/flops.ts); f: N training steps per image plus the test forwards.',
  );
  const performed = (['d', 'f'] as const).flatMap((id) => {
    const workload = result.cases[id];
    if (!workload?.performedFlopsPerStep) return [];
    const share = workload.performedFlopsPerStep / workload.flopsPerStep;
    return [`${id} ${sig(workload.performedFlopsPerStep / 1e6)} MFLOP (${sig(share)} of the count)`];
  });
  if (performed.length > 0) {
    lines.push(
      "d and f's GFLOP/s count the direct algorithm's FLOPs on both sides, so a fraction of the peak above 100 % is possible: " +
        `pmoe's Winograd convolutions (3x3 stride-1 layers) multiply less. 'as done' is pmoe's GFLOP/s of what its kernels do per step: ${performed.join('; ')}.`,
    );
  }
  lines.push('');
  const agreement = result.checks.filter((check) => check.tolerance !== undefined);
  if (agreement.length > 0) {
    const worst = Math.max(...agreement.map((check) => check.value ?? Number.NaN));
    lines.push(
      `agreement, same weights and input (max|pmoe - torch| / max|torch|, tolerance ${AGREEMENT_TOLERANCE}): ` +
        agreement.map((check) => `${check.case} ${check.what} ${check.value?.toExponential(1)}`).join('; ') +
        ` (worst ${worst.toExponential(1)})`,
    );
  }
  const failed = result.checks.filter((check) => !check.ok);
  lines.push(
    failed.length === 0
      ? `checks: all ${result.checks.length} passed (agreement, finite losses and outputs, no tensor leaks)`
      : `checks: ${failed.length} of ${result.checks.length} FAILED:\n` +
          failed
            .map((check) => `  ${check.case}: ${check.what}${check.value === undefined ? '' : ` = ${check.value}`}${check.note ? ` (${check.note})` : ''}`)
            .join('\n'),
  );
  return lines.join('\n');
}
