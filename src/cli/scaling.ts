import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseOverrides } from '../util/overrides.js';
import { resolveShard } from '../experiments/shard-env.js';
import { shardResultsPath } from '../experiments/shard-files.js';
import type { BackendName } from '../engine/backend.js';
import { describeThreshold } from '../analysis/bisection.js';
import { preflightRun } from '../experiments/preflight.js';
import { checkPlannedRuns } from '../experiments/plan-size.js';
import { lockResults } from '../experiments/results-lock.js';
import { readResults } from '../experiments/results-file.js';
import { retries, type FailureCause } from '../experiments/failure.js';
import {
  runScaling,
  scalingCells,
  scalingSchema,
  scalingSpec,
  SCALING_QUICK,
  sweepRunner,
  type ScalingOptions,
  type ScalingOutcome,
} from '../experiments/scaling.js';
import { describeCell, scalingTable, writeScalingReport, type ScalingReport, type ScalingReportFiles } from '../report/scaling-report.js';
import { parseOptions } from '../util/options.js';
import { checkWritable, checkWritableFolder } from './output-path.js';
import { startProgress, type Progress } from './progress.js';

export interface ScalingCommandOptions {
  quick?: boolean;
  jobs?: number;
  out?: string;
  /** `i/N` or `auto` (../experiments/shard-env.ts): run only that shard's cells. */
  shard?: string;
  shardCount?: number;
  /** Folder of the report (scaling.md, .svg, .json, .vl.json); default `report`, a shard's `report/scaling.shard-<i>-of-<N>`. */
  reportDir?: string;
  /** Write the report from the results file without running anything. */
  reportOnly?: boolean;
  backend: BackendName;
  /** `key=value` overrides of the experiment's options; values are JSON (numbers, lists) or plain text. */
  set: string[];
  json?: boolean;
}

export interface ScalingCommandResult {
  readonly settings: ScalingOptions;
  readonly resultsPath: string;
  /** Absent with --report-only. */
  readonly outcome?: ScalingOutcome;
  readonly report: ScalingReport;
  readonly files: ScalingReportFiles;
  readonly wallTimeMs: number;
  /** Cells where the driver's bisection and the report (recomputed from the file) disagree; normally none. */
  readonly disagreements: readonly string[];
  /** Failed runs in the results file by cause. Divergences are outcomes (the run missed the target); other causes a rerun retries. */
  readonly failedByCause: Readonly<Partial<Record<FailureCause, number>>>;
}

/** Whether any run failed for a cause a rerun can change (a crash, a kill, memory, data): the command then exits 1. */
export const hasRetriableFailures = (result: ScalingCommandResult) =>
  Object.entries(result.failedByCause).some(([cause, count]) => (count ?? 0) > 0 && retries('changeable', cause as FailureCause));

const SHELL_SAFE = /^[\w@%+=:,./[\]-]+$/;
const shellQuote = (text: string) => (SHELL_SAFE.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`);

/**
 * `pmoe scaling`: runs the sample-complexity bisections (resumable, one results file), then writes
 * the report from that file. With --report-only it only writes the report.
 */
export async function scalingCommand(options: ScalingCommandOptions): Promise<ScalingCommandResult> {
  const started = performance.now();
  const settings = parseOptions(scalingSchema, { ...(options.quick ? SCALING_QUICK : {}), ...parseOverrides(options.set) }, 'scaling');
  const shard = resolveShard(options.shard, options.shardCount);
  if (shard && 'source' in shard) process.stderr.write(`scaling: shard ${shard.index} of ${shard.count} from ${shard.source}\n`);
  const resultsPath = options.out ?? shardResultsPath(`scaling${options.quick ? '-quick' : ''}`, shard);
  const reportDir = options.reportDir ?? (shard ? `report/scaling.shard-${shard.index}-of-${shard.count}` : 'report');
  await checkWritableFolder(reportDir, '--report-dir');
  if (!options.reportOnly) await checkWritable(resultsPath, '--out');
  let outcome: ScalingOutcome | undefined;
  if (!options.reportOnly) {
    // Bisections reach N = high at most: each cell's largest run is checked before the first round.
    const { cells } = scalingCells(settings);
    // A round runs every open cell's seeds at once: its size is checked before any is planned.
    checkPlannedRuns('a scaling round', cells.length * settings.seeds);
    for (const cell of cells) preflightRun(scalingSpec(settings, cell, settings.high, 0));
    const quiet = options.json === true && !process.stderr.isTTY;
    let progress: Progress | undefined;
    // One lock for every round: a second `pmoe scaling` on this file is refused even between rounds.
    await mkdir(dirname(resultsPath), { recursive: true });
    const release = await lockResults(resultsPath);
    try {
      outcome = await runScaling(settings, {
        shard,
        runSpecs: sweepRunner({
          resultsPath,
          resultsLocked: true,
          jobs: options.jobs,
          backend: options.backend,
          onProgress: (_round, p) => progress?.update(p.done, p.label, p.etaSeconds),
        }),
        onRound: ({ round, open, runs, queries }) => {
          progress?.stop();
          if (!quiet)
            process.stderr.write(
              `scaling round ${round}: ${open} open bisection${open === 1 ? '' : 's'}, ${runs} runs (${queries.map((q) => `${q.label} N=${q.trainSize}`).join(', ')})\n`,
            );
          progress = startProgress(runs, `scaling round ${round}`, quiet);
        },
      });
    } finally {
      progress?.stop();
      await release();
    }
  }
  const regenerate = [
    'pmoe scaling --report-only',
    ...(options.quick ? ['--quick'] : []),
    '--out',
    shellQuote(resultsPath),
    '--report-dir',
    shellQuote(reportDir),
    ...options.set.map((pair) => `--set ${shellQuote(pair)}`),
  ].join(' ');
  const { report, files } = await writeScalingReport(
    [resultsPath],
    reportDir,
    {
      targetAccuracy: settings.targetAccuracy,
      requiredShare: settings.requiredShare,
      search: { low: settings.low, high: settings.high, tolerance: settings.tolerance },
    },
    { sources: [resultsPath], generatedAt: new Date(), regenerate },
  );
  const disagreements: string[] = [];
  for (const cell of outcome?.cells ?? []) {
    const reported = report.cells.find((c) => c.label === cell.label);
    const driver = describeThreshold(cell.result);
    const fromFile = reported ? describeCell(reported) : 'missing';
    const same =
      reported !== undefined &&
      ((cell.result.status === 'found' && reported.status === 'found' && reported.nNeeded === cell.result.threshold) ||
        (cell.result.status === 'at or below low' && reported.status === 'at or below' && reported.nNeeded === cell.result.threshold) ||
        (cell.result.status === 'not reached' && reported.status === 'not reached'));
    if (!same) disagreements.push(`${cell.label}: bisection ${driver}, report ${fromFile}`);
  }
  const failedByCause: Partial<Record<FailureCause, number>> = {};
  for (const line of readResults(resultsPath).lines) {
    if (line.status === 'failed') failedByCause[line.cause ?? 'error'] = (failedByCause[line.cause ?? 'error'] ?? 0) + 1;
  }
  return { settings, resultsPath, outcome, report, files, wallTimeMs: performance.now() - started, disagreements, failedByCause };
}

/** The lines `pmoe scaling` prints: the N-needed table, the fitted slopes and where the files are. */
export function formatScaling(result: ScalingCommandResult): string {
  const { report, settings } = result;
  const out: string[] = [];
  out.push(
    `pmoe scaling: smallest N with final test accuracy >= ${(100 * settings.targetAccuracy).toFixed(1)}% in >= ${Math.round(100 * settings.requiredShare)}% of ${settings.seeds} seeds; ` +
      `N searched in [${settings.low}, ${settings.high}] (log bisection, relative tolerance ${settings.tolerance}); ` +
      `synthetic data d=${settings.d}, p=${settings.p}, delta_d=${settings.deltaD}, delta_r=${settings.deltaR}, noise=${settings.noise}, confusers=${settings.confusers}; ${settings.steps} SGD steps per run`,
    '',
  );
  out.push(report.cells.length === 0 ? 'no runs' : scalingTable(report.cells), '');
  for (const line of report.findings) out.push(`- ${line}`);
  if (result.outcome) {
    const o = result.outcome;
    out.push(
      '',
      `${o.rounds.length} rounds, ${o.runs} runs (${o.ranNow} now); skipped cells: ${o.skipped.length === 0 ? 'none' : o.skipped.map((s) => `${s.cell.model} n=${s.cell.n} l=${s.cell.l} (${s.reason})`).join('; ')}`,
    );
  }
  const failures = Object.entries(result.failedByCause);
  if (failures.length > 0) {
    out.push(
      `failed runs: ${failures.map(([cause, count]) => `${count} ${cause}`).join(', ')} (divergences count as runs that missed the target; a rerun retries the others)`,
    );
  }
  for (const d of result.disagreements) out.push(`warning: ${d}`);
  for (const w of report.warnings) out.push(`warning: ${w}`);
  out.push(
    `results in ${result.resultsPath}; report in ${result.files.markdown}, ${result.files.svg}, ${result.files.json}; wall time ${(result.wallTimeMs / 1000).toFixed(1)} s`,
  );
  return out.join('\n');
}
