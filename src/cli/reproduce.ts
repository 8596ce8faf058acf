import { resolve } from 'node:path';
import { parseOverrides } from '../util/overrides.js';
import type { BackendName } from '../engine/backend.js';
import { retries, type FailureCause, type RetryPolicy } from '../experiments/failure.js';
import { checkPlannedRuns } from '../experiments/plan-size.js';
import { experimentByName } from '../experiments/registry.js';
import { resolveShard } from '../experiments/shard-env.js';
import { shardResultsPath } from '../experiments/shard-files.js';
import type { Shard } from '../experiments/shard.js';
import { runSweep, type SweepResult } from '../experiments/sweep.js';
import { OptionError, parseOptions } from '../util/options.js';
import { checkWritable } from './output-path.js';
import { startProgress } from './progress.js';
import { EPOCH_LOG_DIR_VARIABLE } from '../experiments/sweep-worker-env.js';

export interface ReproduceOptions {
  quick?: boolean;
  jobs?: number;
  /** `i/N`, or `auto` to read it from a Slurm array or Kubernetes Indexed Job (../experiments/shard-env.ts). */
  shard?: string;
  /** With `--shard auto`: the number of shards (else PMOE_SHARD_COUNT, else the Slurm array's size). */
  shardCount?: number;
  out?: string;
  backend: BackendName;
  /** pmoe's WebGPU step of the image models: fp32 (default) or mixed (f16 subgroup matrices where the GPU has them). */
  precision?: 'fp32' | 'mixed';
  /** `key=value` overrides of the experiment's options; values are JSON (numbers, lists) or plain text. */
  set: string[];
  json?: boolean;
  /** --retry-failed: also run again failures that cannot change (a divergence). */
  retryFailed?: boolean;
  /** --no-retry sets this false: keep every failed run. */
  retry?: boolean;
  /** Folder of per-epoch logs, one `<run key>.jsonl` and `.csv` per run. */
  logDir?: string;
}

/** What --retry-failed and --no-retry ask for. */
export function retryPolicy(options: Pick<ReproduceOptions, 'retry' | 'retryFailed'>): RetryPolicy {
  if (options.retryFailed && options.retry === false) throw new OptionError('--retry-failed and --no-retry contradict each other: give one of them');
  return options.retryFailed ? 'all' : options.retry === false ? 'none' : 'changeable';
}

/** `pmoe reproduce <name>`: expands a named experiment into runs and sweeps them, resumably. */
export async function reproduce(name: string, options: ReproduceOptions): Promise<ReproduceResult> {
  const experiment = experimentByName(name);
  const retry = retryPolicy(options);
  const settings = parseOptions(experiment.schema, { ...(options.quick ? experiment.quick : {}), ...parseOverrides(options.set) }, name);
  checkPlannedRuns(name, experiment.runCount(settings));
  const specs = experiment.specs(settings);
  const shard = resolveShard(options.shard, options.shardCount);
  const resultsPath = options.out ?? shardResultsPath(`${name}${options.quick ? '-quick' : ''}`, shard);
  await checkWritable(resultsPath, '--out');
  if (shard && 'source' in shard) process.stderr.write(`${name}: shard ${shard.index} of ${shard.count} from ${shard.source}\n`);
  // The sweep's worker processes inherit the environment: this is how they learn where to log, and
  // the precision of pmoe's WebGPU step.
  if (options.logDir !== undefined) process.env[EPOCH_LOG_DIR_VARIABLE] = resolve(options.logDir);
  if (options.precision !== undefined) process.env.PMOE_PRECISION = options.precision;
  const progress = startProgress(specs.length, name, options.json === true && !process.stderr.isTTY);
  const result = await runSweep(specs, {
    experiment: name,
    resultsPath,
    jobs: options.jobs,
    shard,
    backend: options.backend,
    retry,
    onProgress: (p) => progress.update(p.done, p.label, p.etaSeconds),
  });
  progress.stop();
  return { ...result, resultsPath, runs: specs.length, shard };
}

/** The failed runs of a sweep by cause, each with its runs' errors. */
function failuresByCause(lines: SweepResult['lines']): Map<FailureCause, string[]> {
  const byCause = new Map<FailureCause, string[]>();
  for (const line of lines) {
    if (line.status !== 'failed') continue;
    const cause = line.cause ?? 'error';
    byCause.set(cause, [...(byCause.get(cause) ?? []), line.error]);
  }
  return byCause;
}

type ReproduceResult = SweepResult & { resultsPath: string; runs: number; shard?: Shard };

/** The summary `pmoe reproduce --json` prints. */
export function sweepSummary(name: string, result: ReproduceResult) {
  const byCause = failuresByCause(result.lines);
  const failed = [...byCause.values()].reduce((sum, errors) => sum + errors.length, 0);
  return {
    experiment: name,
    resultsPath: result.resultsPath,
    runs: result.runs,
    finished: result.lines.length - failed,
    ranNow: result.ran,
    retried: result.retried,
    failed,
    failedByCause: Object.fromEntries([...byCause].map(([cause, errors]) => [cause, errors.length])),
  };
}

/** The summary `pmoe reproduce` prints: runs finished and failed, the failures grouped by cause, and what a rerun does with them. */
export function formatSweepSummary(name: string, result: ReproduceResult, retry: RetryPolicy): string {
  const byCause = failuresByCause(result.lines);
  const failed = [...byCause.values()].reduce((sum, errors) => sum + errors.length, 0);
  const retried = result.retried > 0 ? `, ${result.retried} of them retried` : '';
  const lines = [
    `${name}: ${result.lines.length - failed} of ${result.runs} runs finished, ${failed} failed (${result.ran} run now${retried}); results in ${result.resultsPath}`,
  ];
  if (result.ran === 0 && failed === 0 && result.lines.length >= result.runs) {
    lines.push(`  nothing to run: ${result.resultsPath} holds every run already (a sweep resumes its file); --out <new file> runs them again`);
  }
  for (const [cause, errors] of byCause) {
    const rerun = retries(retry === 'none' ? 'changeable' : retry, cause) ? 'run again on rerun' : 'kept on rerun (--retry-failed runs them again)';
    lines.push(`  ${errors.length} failed (${cause}; ${rerun}):`);
    const distinct = [...new Set(errors)];
    for (const error of distinct.slice(0, 3)) lines.push(`    ${error}`);
    if (distinct.length > 3) lines.push(`    ... and ${distinct.length - 3} other errors (all in ${result.resultsPath})`);
  }
  return lines.join('\n');
}
