import { loadResultsFile, ReportInputError, type LoadedResultsFile, type ReportLine } from './load-results.js';

export interface MergedResults {
  /** Lines by experiment name, experiments in name order, lines in the order first read. */
  readonly byExperiment: ReadonlyMap<string, readonly ReportLine[]>;
  readonly inputs: readonly { path: string; lines: number; tornLines: number }[];
  /** Lines whose run (experiment and key) an earlier line, or a successful rerun, already supplied. */
  readonly duplicatesDropped: number;
  readonly warnings: readonly string[];
}

/**
 * Merges results files that are shards (or resumed copies) of one or more sweeps. Within an
 * experiment a key names one run spec, so a key seen twice is the same run: the first successful
 * line wins, because a run that failed in one shard and succeeded when rerun elsewhere did finish.
 * The same spec may belong to two experiments (fig4's joint runs are fig9's), so both keep it.
 */
export function mergeResultLines(files: readonly LoadedResultsFile[]): MergedResults {
  const byRun = new Map<string, ReportLine>();
  const warnings: string[] = [];
  let duplicatesDropped = 0;
  for (const file of files) {
    if (file.tornLines > 0) warnings.push(`${file.path}: dropped a torn last line (a write cut short)`);
    if (file.lines.length === 0) warnings.push(`${file.path}: holds no result lines`);
    for (const line of file.lines) {
      const run = JSON.stringify([line.experiment, line.key]);
      const earlier = byRun.get(run);
      if (!earlier) {
        byRun.set(run, line);
        continue;
      }
      duplicatesDropped++;
      if (earlier.status === 'failed' && line.status === 'ok') byRun.set(run, line);
    }
  }
  const grouped = new Map<string, ReportLine[]>();
  for (const line of byRun.values()) {
    const list = grouped.get(line.experiment) ?? [];
    list.push(line);
    grouped.set(line.experiment, list);
  }
  const byExperiment = new Map([...grouped].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })));
  return {
    byExperiment,
    inputs: files.map((file) => ({ path: file.path, lines: file.lines.length, tornLines: file.tornLines })),
    duplicatesDropped,
    warnings,
  };
}

/** Reads every file (each must exist and parse) and merges them. */
export async function mergeResultsFiles(paths: readonly string[]): Promise<MergedResults> {
  if (paths.length === 0) throw new ReportInputError('no results files given (pass one or more .jsonl files written by pmoe reproduce)');
  const files = await Promise.all(paths.map((path) => loadResultsFile(path)));
  const merged = mergeResultLines(files);
  if (merged.byExperiment.size === 0) throw new ReportInputError(`no result lines in ${paths.join(', ')}`);
  return merged;
}
