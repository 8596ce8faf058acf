import { spawn } from 'node:child_process';
import type { BenchResult, WorkloadResult } from './run.js';
import { quantile } from './stats.js';

/**
 * `bench --runs n`: the whole bench n times, each in a fresh process (the peer's speed is a
 * property of its process: one process runs PyTorch's WRN epoch at twice another's speed,
 * docs/performance.md), and per case the median over the runs of pmoe's median step, of
 * PyTorch's, and of each run's ratio (pmoe / PyTorch, both measured in that run).
 */

export interface CaseOverRuns {
  readonly title: string;
  /** Each run's median step, ms (PyTorch's: null where a run had no peer for the case). */
  readonly pmoeMs: number[];
  readonly torchMs: (number | null)[];
  readonly ratios: (number | null)[];
  /** The medians of those over the runs that have them. */
  readonly median: { readonly pmoeMs: number; readonly torchMs: number | null; readonly ratio: number | null };
}

export interface RunsSummary {
  readonly runs: number;
  /** Every run's checks passed. */
  readonly ok: boolean;
  /** CPU that other processes took during each run, cores on average (null where unreadable). */
  readonly otherCores: (number | null)[];
  /** The two-thread SIMD peak each run measured, GFLOP/s. */
  readonly peakTwoThreads: number[];
  readonly cases: Record<string, CaseOverRuns>;
}

function median(values: readonly (number | null)[]): number | null {
  const present = values.filter((value): value is number => value !== null).sort((a, b) => a - b);
  return present.length === 0 ? null : quantile(present, 0.5);
}

export function summariseRuns(results: readonly BenchResult[]): RunsSummary {
  const cases: Record<string, CaseOverRuns> = {};
  const ids = [...new Set(results.flatMap((result) => Object.keys(result.cases)))];
  for (const id of ids) {
    const entries = results.map((result) => (result.cases as Record<string, WorkloadResult | undefined>)[id]).filter((entry) => entry !== undefined);
    const pmoeMs = entries.map((entry) => entry.pmoe.medianMs);
    const torchMs = entries.map((entry) => entry.torch?.medianMs ?? null);
    const ratios = entries.map((entry) => entry.ratio);
    cases[id] = { title: entries[0].title, pmoeMs, torchMs, ratios, median: { pmoeMs: median(pmoeMs)!, torchMs: median(torchMs), ratio: median(ratios) } };
  }
  return {
    runs: results.length,
    ok: results.every((result) => result.ok),
    otherCores: results.map((result) => result.machine.otherCores),
    peakTwoThreads: results.map((result) => result.peak.twoThreads),
    cases,
  };
}

const sig = (value: number | null) => (value === null ? '-' : value >= 100 ? value.toFixed(0) : value.toPrecision(3));

/** The summary as a table: per case the medians over the runs, then each run's ratio. */
export function formatRuns(summary: RunsSummary): string {
  const rows = Object.entries(summary.cases).map(
    ([id, c]) => `| ${id} | ${sig(c.median.pmoeMs)} | ${sig(c.median.torchMs)} | ${sig(c.median.ratio)} | ${c.ratios.map(sig).join(' / ')} |`,
  );
  const load = summary.otherCores.map((cores) => (cores === null ? '-' : cores.toFixed(2))).join(' / ');
  return [
    `Medians over ${summary.runs} bench runs, each in its own process (ratio: pmoe / PyTorch, measured in the same run; above 1, pmoe is slower).`,
    '',
    '| case | pmoe ms | PyTorch ms | ratio | each run |',
    '| --- | ---: | ---: | ---: | --- |',
    ...rows,
    '',
    `CPU taken by other processes per run (cores of 2): ${load}; two-thread SIMD peak per run: ${summary.peakTwoThreads.map(sig).join(' / ')} GFLOP/s.`,
    summary.ok ? 'All checks passed in every run.' : 'Some checks FAILED: run once without --runs to see which.',
  ].join('\n');
}

/** The bench's arguments without --runs (given as `--runs n` or `--runs=n`). */
export function withoutRuns(argv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--runs') i++;
    else if (!argv[i].startsWith('--runs=')) kept.push(argv[i]);
  }
  return kept;
}

/** Runs `script` (the bench) `runs` times one after another with `args` and --json, its progress on this stderr; each run's result. */
export async function benchInProcesses(script: string, args: readonly string[], runs: number, log: (line: string) => void): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (let run = 0; run < runs; run++) {
    log(`run ${run + 1}/${runs}`);
    const child = spawn(process.execPath, [...process.execArgv, script, ...args.filter((arg) => arg !== '--json'), '--json'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const code = await new Promise<number | null>((resolve, reject) => child.on('error', reject).on('close', resolve));
    try {
      results.push(JSON.parse(stdout) as BenchResult);
    } catch {
      throw new Error(`bench run ${run + 1} of ${runs} exited with ${code} and printed no JSON result`);
    }
  }
  return results;
}
