import { stat } from 'node:fs/promises';
import { standingLine } from '../experiments/results-file.js';
import { canonicalJson } from '../util/canonical-json.js';
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
  /** Lines whose run (experiment and key) another line supplies: a copy of a finished run, or a failure a later line retried. */
  readonly duplicatesDropped: number;
  /** Runs with two successful records that disagree (the first read is kept). */
  readonly conflicts: readonly ResultConflict[];
  readonly warnings: readonly string[];
}

/**
 * Merges results files that are shards (or resumed copies) of one or more sweeps. Within an
 * experiment a key names one run spec, so a key seen twice is the same run, counted once: the first
 * successful line wins, and a later line replaces a failed one (a retry, in this file or another).
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
      if (!earlier) {
        byRun.set(run, line);
        pathOf.set(run, file.path);
        continue;
      }
      duplicatesDropped++;
      const standing = standingLine(earlier, line);
      if (standing !== earlier) pathOf.set(run, file.path);
      else if (earlier.status === 'ok' && line.status === 'ok') {
        const fields = differingFields(earlier.record, line.record);
        if (fields.length > 0) conflicts.push({ experiment: line.experiment, key: line.key, paths: [pathOf.get(run)!, file.path], fields });
      }
      byRun.set(run, standing);
    }
  }
  const grouped = new Map<string, ReportLine[]>();
  for (const line of byRun.values()) {
    const list = grouped.get(line.experiment) ?? [];
    list.push(line);
    grouped.set(line.experiment, list);
  }
  const byExperiment = new Map([...grouped].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })));
  for (const c of conflicts)
    warnings.push(`${c.experiment} run ${c.key}: ${c.paths[0]} and ${c.paths[1]} hold different records (${c.fields.join(', ')}); the first is used`);
  return {
    byExperiment,
    conflicts,
    inputs: files.map((file) => ({ path: file.path, lines: file.lines.length, tornLines: file.tornLines })),
    duplicatesDropped,
    warnings,
  };
}

/** A file's identity (device and inode, links followed) and size; undefined when it does not exist. */
export async function fileIdentity(path: string): Promise<{ id: string; size: number } | undefined> {
  return stat(path).then(
    (info) => ({ id: `${info.dev}:${info.ino}`, size: info.size }),
    () => undefined,
  );
}

/**
 * `paths` with every file once: two names of one file (a symbolic link, another spelling, a hard
 * link: the same device and inode) keep the first, with a warning.
 */
export async function distinctFiles(paths: readonly string[]): Promise<{ paths: string[]; warnings: string[] }> {
  const byIdentity = new Map<string, string>();
  const warnings: string[] = [];
  for (const path of paths) {
    // A missing file fails where it is read, naming it.
    const identity = (await fileIdentity(path))?.id ?? `missing:${path}`;
    const first = byIdentity.get(identity);
    if (first === undefined) byIdentity.set(identity, path);
    else warnings.push(`${path} is the same file as ${first}: read once`);
  }
  return { paths: [...byIdentity.values()], warnings };
}

/** Reads every file (each must exist and parse) and merges them; a file named twice (distinctFiles) is read once. */
export async function mergeResultsFiles(paths: readonly string[]): Promise<MergedResults> {
  if (paths.length === 0) throw new ReportInputError('no results files given (pass one or more .jsonl files written by pmoe reproduce)');
  const distinct = await distinctFiles(paths);
  const warnings = distinct.warnings;
  const files: LoadedResultsFile[] = [];
  // One after the other: each read lets the event loop turn as it goes (loadResultsFile).
  for (const path of distinct.paths) files.push(await loadResultsFile(path));
  const merged = mergeResultLines(files);
  if (merged.byExperiment.size === 0) throw new ReportInputError(`no result lines in ${paths.join(', ')}`);
  return { ...merged, warnings: [...warnings, ...merged.warnings] };
}
