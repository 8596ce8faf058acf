import { canonicalJson } from '../experiments/shard.js';
import { loadResultsFile, ReportInputError, type LoadedResultsFile, type ReportLine } from './load-results.js';

/** Two successful records of one run that differ in more than their timings. */
export interface ResultConflict {
  readonly experiment: string;
  readonly key: string;
  /** The files of the kept line and of the line that disagrees with it. */
  readonly paths: readonly [string, string];
  /** The top-level record fields that differ. */
  readonly fields: readonly string[];
}

// Timings differ between two runs of the same spec; everything else is determined by the spec.
const TIMING_FIELDS = new Set(['wallTimeMs', 'trainTimeMs']);

function differingFields(a: object, b: object): string[] {
  const fieldsOf = (record: object) => Object.keys(record).filter((field) => !TIMING_FIELDS.has(field));
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  return [...new Set([...fieldsOf(a), ...fieldsOf(b)])].filter((field) => canonicalJson(x[field]) !== canonicalJson(y[field])).sort();
}

export interface MergedResults {
  /** Lines by experiment name, experiments in name order, lines in the order first read. */
  readonly byExperiment: ReadonlyMap<string, readonly ReportLine[]>;
  readonly inputs: readonly { path: string; lines: number; tornLines: number }[];
  /** Lines whose run (experiment and key) an earlier line, or a successful rerun, already supplied. */
  readonly duplicatesDropped: number;
  /** Runs with two successful records that disagree (the first read is kept). */
  readonly conflicts: readonly ResultConflict[];
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
  const pathOf = new Map<string, string>();
  const conflicts: ResultConflict[] = [];
  const warnings: string[] = [];
  let duplicatesDropped = 0;
  for (const file of files) {
    if (file.tornLines > 0) warnings.push(`${file.path}: dropped a torn last line (a write cut short)`);
    if (file.lines.length === 0) warnings.push(`${file.path}: holds no result lines`);
    for (const line of file.lines) {
      const run = JSON.stringify([line.experiment, line.key]);
      const earlier = byRun.get(run);
      if (!earlier || (earlier.status === 'failed' && line.status === 'ok')) {
        if (earlier) duplicatesDropped++;
        byRun.set(run, line);
        pathOf.set(run, file.path);
        continue;
      }
      duplicatesDropped++;
      if (earlier.status === 'ok' && line.status === 'ok') {
        const fields = differingFields(earlier.record, line.record);
        if (fields.length > 0) conflicts.push({ experiment: line.experiment, key: line.key, paths: [pathOf.get(run)!, file.path], fields });
      }
    }
  }
  const grouped = new Map<string, ReportLine[]>();
  for (const line of byRun.values()) {
    const list = grouped.get(line.experiment) ?? [];
    list.push(line);
    grouped.set(line.experiment, list);
  }
  const byExperiment = new Map([...grouped].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })));
  for (const c of conflicts) warnings.push(`${c.experiment} run ${c.key}: ${c.paths[0]} and ${c.paths[1]} hold different records (${c.fields.join(', ')}); the first is used`);
  return {
    byExperiment,
    conflicts,
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
