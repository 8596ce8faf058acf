import { readFile, stat } from 'node:fs/promises';
import type { z } from 'zod';
import { experimentRunProblem } from '../experiments/registry.js';
import {
  describeIssues,
  resultLineSchema,
  type imageRecordSchema,
  type imageSpecSchema,
  type patchRecordSchema,
  type patchSpecSchema,
} from '../experiments/result-schema.js';

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

/**
 * Reads one JSON Lines results file strictly: unlike the sweep's reader (which treats a missing
 * file as empty and drops what it cannot parse, so it can resume), a report must not silently
 * lose runs, so only a torn last line is tolerated. Every line is checked against the schema the
 * sweep writes with, and against the runs its experiment makes (a fig8 line labelled fig4 is
 * refused); the error lists the bad lines. Fields the report does not read are dropped unless
 * `keepAllFields`.
 */
export async function loadResultsFile(path: string, options: { keepAllFields?: boolean } = {}): Promise<LoadedResultsFile> {
  let text: string;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new ReportInputError(`results file ${path} is not a file`);
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof ReportInputError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ReportInputError(`results file not found: ${path}`);
    throw new ReportInputError(`cannot read results file ${path}: ${(error as Error).message}`);
  }
  const parts = text.split('\n');
  const lines: ReportLine[] = [];
  const bad: string[] = [];
  let tornLines = 0;
  for (const [index, part] of parts.entries()) {
    if (part.trim() === '') continue;
    const lineNumber = index + 1;
    const isLast = index === parts.length - 1;
    let parsed: unknown;
    try {
      parsed = JSON.parse(part);
    } catch {
      if (isLast) {
        tornLines++;
        continue;
      }
      throw new ReportInputError(`results file ${path}, line ${lineNumber}: not JSON (is this a pmoe results file?)`);
    }
    const checked = resultLineSchema(parsed).safeParse(parsed);
    const problem = checked.success
      ? experimentRunProblem(checked.data.experiment, (parsed as { spec: unknown }).spec)
      : describeIssues(checked.error.issues, parsed);
    if (problem !== undefined) bad.push(`results file ${path}, line ${lineNumber}: not a pmoe result line (${problem})`);
    // keepAllFields: checked but whole, for `pmoe merge`, which writes the lines back.
    else if (checked.success) lines.push((options.keepAllFields ? parsed : checked.data) as ReportLine);
  }
  if (bad.length > 0) {
    const more = bad.length > BAD_LINES_SHOWN ? [`... and ${bad.length - BAD_LINES_SHOWN} more bad lines`] : [];
    const header = bad.length > 1 ? [`results file ${path}: ${bad.length} bad lines`] : [];
    throw new ReportInputError([...header, ...bad.slice(0, BAD_LINES_SHOWN), ...more].join('\n'));
  }
  return { path, lines, tornLines };
}
