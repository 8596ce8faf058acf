import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { loadResultsFile, ReportInputError, type LoadedResultsFile } from '../report/load-results.js';
import { distinctFiles, fileIdentity, mergeResultLines } from '../report/merge-results.js';
import { lockResults } from '../experiments/results-lock.js';
import { writeFileAtomically } from '../util/atomic-write.js';
import { OptionError } from '../util/options.js';
import { checkResultsOutput } from './output-path.js';

export interface MergeSummary {
  readonly experiment: string;
  readonly out: string;
  /** Runs written: every run once. */
  readonly runs: number;
  readonly ok: number;
  readonly failed: number;
  readonly inputs: readonly { path: string; lines: number; tornLines: number }[];
  /** Lines left out because another line held the same run. */
  readonly duplicatesDropped: number;
  readonly warnings: readonly string[];
}

/**
 * `pmoe merge`: the shard files of one sweep as one results file with every run once, written
 * atomically. The merge is the report's (a run in two files counts once; a success beats a failure);
 * files of different experiments, or two records of one run that disagree, are refused.
 */
export async function mergeCommand(paths: readonly string[], out: string): Promise<MergeSummary> {
  if (paths.length === 0) throw new ReportInputError('pmoe merge: no results files given (pass the shard files, e.g. results/fig4.shard-*-of-8.jsonl)');
  await checkResultsOutput(out, '--out');
  const inputs = await distinctFiles(paths);
  // The merge replaces --out: the runs it holds are kept only when it is one of the files merged.
  const outIdentity = await fileIdentity(out);
  const identities = await Promise.all(inputs.paths.map(fileIdentity));
  if (outIdentity !== undefined && outIdentity.size > 0 && !identities.some((identity) => identity?.id === outIdentity.id)) {
    throw new OptionError(
      `--out: '${out}' already holds results and is not one of the files merged, so the merge would replace its runs: ` +
        'add it to the files to merge (its runs are kept), or name a new file',
    );
  }
  // --out is a results file like any other: a sweep appending to it meanwhile would lose its lines to the rename.
  await mkdir(dirname(out), { recursive: true });
  const release = await lockResults(out);
  try {
    return await mergeInto(inputs, out, paths);
  } finally {
    await release();
  }
}

async function mergeInto(inputs: { paths: string[]; warnings: string[] }, out: string, paths: readonly string[]): Promise<MergeSummary> {
  const files: LoadedResultsFile[] = [];
  for (const path of inputs.paths) files.push(await loadResultsFile(path, { keepAllFields: true }));
  const merged = mergeResultLines(files);
  if (merged.byExperiment.size === 0) throw new ReportInputError(`pmoe merge: no result lines in ${paths.join(', ')}`);
  if (merged.byExperiment.size > 1) {
    const filesOf = (experiment: string) => files.filter((file) => file.lines.some((line) => line.experiment === experiment)).map((file) => file.path);
    const listed = [...merged.byExperiment.keys()].map((experiment) => `${experiment} (${filesOf(experiment).join(', ')})`).join('; ');
    throw new ReportInputError(`pmoe merge: the files hold runs of different experiments: ${listed}; merge each experiment's shards into its own file`);
  }
  if (merged.conflicts.length > 0) {
    const shown = merged.conflicts.slice(0, 5).map((c) => `run ${c.key}: ${c.paths[0]} and ${c.paths[1]} differ in ${c.fields.join(', ')}`);
    const more = merged.conflicts.length > 5 ? `; and ${merged.conflicts.length - 5} more` : '';
    throw new ReportInputError(
      `pmoe merge: ${merged.conflicts.length} run(s) have conflicting records (the same spec gave different results, e.g. on another backend): ${shown.join('; ')}${more}. Keep one of the files' lines for those runs and merge again`,
    );
  }
  const [[experiment, lines]] = [...merged.byExperiment];
  await writeFileAtomically(out, lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
  const ok = lines.filter((line) => line.status === 'ok').length;
  return {
    experiment,
    out,
    runs: lines.length,
    ok,
    failed: lines.length - ok,
    inputs: merged.inputs,
    duplicatesDropped: merged.duplicatesDropped,
    warnings: [...inputs.warnings, ...merged.warnings],
  };
}

export function formatMerge(summary: MergeSummary): string {
  const failed = summary.failed > 0 ? ` (${summary.failed} failed)` : '';
  const dropped = summary.duplicatesDropped > 0 ? `, ${summary.duplicatesDropped} duplicate lines dropped` : '';
  return `${summary.experiment}: ${summary.runs} runs from ${summary.inputs.length} files into ${summary.out}${failed}${dropped}`;
}
