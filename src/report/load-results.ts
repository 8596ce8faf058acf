import type { z } from 'zod';
import { judgeResultLine, NOT_JSON } from '../experiments/result-line.js';
import { NotResultsFileError, readResults, type ResultLine } from '../experiments/results-file.js';
import { turnEventLoop } from '../util/event-loop.js';
import { fileLines, openLines } from '../util/file-lines.js';
import { fsProblem } from '../util/fs-problem.js';
import type { imageRecordSchema, imageSpecSchema, patchRecordSchema, patchSpecSchema } from '../experiments/result-schema.js';

/** A results file the report cannot use; the message names the file (and the line where there is one). */
export class ReportInputError extends Error {
  override name = 'ReportInputError';
}

export type PatchReportRecord = z.output<typeof patchRecordSchema>;
export type ImageReportRecord = z.output<typeof imageRecordSchema>;
export type ReportRecord = PatchReportRecord | ImageReportRecord;
export type ReportSpec = z.output<typeof patchSpecSchema> | z.output<typeof imageSpecSchema>;

/**
 * A results line as the report sees it: a ResultLine whose NaNs may have become null. A file's
 * lines are checked as image runs (`kind: 'image'`) or two-layer runs, whichever they say they are.
 */
export type ReportLine =
  | { readonly key: string; readonly experiment: string; readonly status: 'ok'; readonly spec: ReportSpec; readonly record: ReportRecord }
  | { readonly key: string; readonly experiment: string; readonly status: 'failed'; readonly spec: ReportSpec; readonly error: string };
export type OkLine = Extract<ReportLine, { status: 'ok' }>;
export type FailedLine = Extract<ReportLine, { status: 'failed' }>;
export type PatchOkLine = OkLine & { readonly record: PatchReportRecord };
export type ImageOkLine = OkLine & { readonly spec: z.output<typeof imageSpecSchema>; readonly record: ImageReportRecord };

export function isImageRecord(record: ReportRecord): record is ImageReportRecord {
  return 'kind' in record && record.kind === 'image';
}
export function isImageSpec(spec: ReportSpec): spec is z.output<typeof imageSpecSchema> {
  return 'kind' in spec && spec.kind === 'image';
}
export const isImageLine = (line: OkLine): line is ImageOkLine => isImageRecord(line.record);
export const isPatchLine = (line: OkLine): line is PatchOkLine => !isImageRecord(line.record);

export interface LoadedResultsFile {
  readonly path: string;
  readonly lines: ReportLine[];
  /** 1 when the last line has no newline and does not parse: a write cut short by a kill. */
  readonly tornLines: number;
}

/** The most bad lines one error lists. */
const BAD_LINES_SHOWN = 10;

/** Lines, or bytes of lines, read between two turns of the event loop, so that a signal handler runs soon while a large file is checked. */
const LINES_PER_TURN = 1000;
const BYTES_PER_TURN = 2 ** 21;

/**
 * Reads one JSON Lines results file strictly: unlike the sweep's reader (which treats a missing
 * file as empty and sets refused lines apart, so it can resume), a report must not silently
 * lose runs, so only a torn last line is tolerated. Every line is judged as the sweep judges it
 * (experiments/result-line.ts: the schema the sweep writes with, the key of its spec, the runs
 * its experiment makes); the error lists the bad lines. Fields the report does not read are
 * dropped unless `keepAllFields`. The file is read a megabyte at a time, and the event loop turns
 * every LINES_PER_TURN lines or BYTES_PER_TURN characters.
 */
export async function loadResultsFile(path: string, options: { keepAllFields?: boolean } = {}): Promise<LoadedResultsFile> {
  let fd: number | undefined;
  try {
    fd = openLines(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EISDIR' || code === 'ENOTREG') throw new ReportInputError(`results file ${path} is not a file (${(error as Error).message})`);
    throw new ReportInputError(`cannot read results file ${path}: ${fsProblem(error)}`);
  }
  if (fd === undefined) throw new ReportInputError(`results file not found: ${path}`);
  const lines: ReportLine[] = [];
  const bad: string[] = [];
  let tornLines = 0;
  let linesSinceTurn = 0;
  let bytesSinceTurn = 0;
  for (const { text, number, ended } of fileLines(fd)) {
    bytesSinceTurn += text.length;
    if (++linesSinceTurn >= LINES_PER_TURN || bytesSinceTurn >= BYTES_PER_TURN) {
      await turnEventLoop();
      linesSinceTurn = bytesSinceTurn = 0;
    }
    const verdict = judgeResultLine(text);
    const where = `results file ${path}, line ${number}`;
    if (verdict.kind === 'blank') continue;
    if (verdict.kind === 'torn' && !ended) tornLines++;
    else if (verdict.kind === 'torn' || (verdict.kind === 'foreign' && verdict.problem === NOT_JSON))
      bad.push(`${where}: not JSON (is this a pmoe results file?)`);
    else if (verdict.kind !== 'valid') bad.push(`${where}: not a pmoe result line (${verdict.problem})`);
    // keepAllFields: checked but whole, for `pmoe merge`, which writes the lines back.
    else lines.push((options.keepAllFields ? verdict.line : verdict.checked) as ReportLine);
  }
  if (bad.length > 0) {
    const more = bad.length > BAD_LINES_SHOWN ? [`... and ${bad.length - BAD_LINES_SHOWN} more bad lines`] : [];
    const header = bad.length > 1 ? [`results file ${path}: ${bad.length} bad lines`] : [];
    throw new ReportInputError([...header, ...bad.slice(0, BAD_LINES_SHOWN), ...more].join('\n'));
  }
  return { path, lines, tornLines };
}

/**
 * The lines of a results file as the sweep reads it (readResults: a missing file is empty, a torn
 * last line dropped), for the reports that read results that way (scaling, pair atlas), but with
 * the report's strictness: a line the report refuses fails the report, naming the file and line,
 * as `pmoe report` would, instead of being left out.
 */
export function readResultsForReport(path: string): ResultLine[] {
  let content: ReturnType<typeof readResults>;
  try {
    content = readResults(path);
  } catch (error) {
    if (error instanceof NotResultsFileError) throw new ReportInputError(error.message);
    throw error;
  }
  const refused = content.refusedLines;
  if (refused.length > 0) {
    const shown = refused.slice(0, BAD_LINES_SHOWN).map((line) => `results file ${path}, line ${line.line}: not a pmoe result line (${line.problem})`);
    throw new ReportInputError([`results file ${path}: ${refused.length} bad lines (a sweep over the file runs them again)`, ...shown].join('\n'));
  }
  return content.lines;
}
