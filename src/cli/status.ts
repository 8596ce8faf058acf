import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { shardOfPath } from '../experiments/shard-files.js';
import { sweepStatus, type ExperimentStatus, type PlanChoice, type RunCounts } from '../experiments/sweep-status.js';
import { loadResultsFile, ReportInputError } from '../report/load-results.js';

/** The results files named: files as given, folders as the .jsonl files directly in them. */
async function resultsFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new ReportInputError(`pmoe status: no such file or folder: ${path}`);
    if (!info.isDirectory()) files.push(path);
    else
      files.push(
        ...(await readdir(path))
          .filter((name) => name.endsWith('.jsonl'))
          .sort()
          .map((name) => join(path, name)),
      );
  }
  if (files.length === 0) throw new ReportInputError(`pmoe status: no .jsonl results files in ${paths.join(', ')}`);
  return files;
}

/** `pmoe status`: per experiment, runs done / failed / missing of the planned runs, per shard. */
export async function statusCommand(paths: readonly string[], choice: PlanChoice): Promise<ExperimentStatus[]> {
  const files = await Promise.all((await resultsFiles(paths)).map((path) => loadResultsFile(path, { keepAllFields: true })));
  return sweepStatus(
    files.map((file) => ({ path: file.path, shard: shardOfPath(file.path), lines: file.lines })),
    choice,
  );
}

const counts = (c: RunCounts) => `${c.done} done, ${c.failed} failed, ${c.missing} missing`;

export function formatStatus(statuses: readonly ExperimentStatus[]): string {
  const out: string[] = [];
  for (const s of statuses) {
    const plan =
      s.planned === null
        ? `${s.done + s.failed} runs (planned runs unknown: they match neither the default nor the quick settings; pass the --quick/--set the sweep used)`
        : `${s.planned} ${s.adaptive ? 'runs so far (adaptive: the next rounds depend on these)' : 'planned runs'}, ${s.settings} settings`;
    const name = s.sweep === s.experiment ? s.experiment : `${s.sweep} (${s.experiment})`;
    out.push(`${name}: ${plan}: ${counts(s)}${s.unplanned > 0 && s.planned !== null ? `; ${s.unplanned} runs not in this plan` : ''}`);
    const unfinished: number[] = [];
    for (const row of s.shards) {
      const where = row.shard ? `shard ${row.shard.index} of ${row.shard.count}` : 'not sharded';
      out.push(`  ${where}: ${counts(row)}  ${row.files.length === 0 ? '(no file)' : row.files.join(', ')}`);
      if (row.shard && row.missing > 0) unfinished.push(row.shard.index - 1);
    }
    if (unfinished.length > 0)
      out.push(`  shards with missing runs (shard i is array task i-1): resubmit with sbatch --array=${unfinished.join(',')} <script>`);
  }
  return out.join('\n');
}
