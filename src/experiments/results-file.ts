import { writeFileAtomically } from '../util/atomic-write.js';
import { fileLines, openLines, type FileLine } from '../util/file-lines.js';
import { fsProblem } from '../util/fs-problem.js';
import { appendToFile } from '../util/output-file.js';
import { judgeResultLine, type ResultLine } from './result-line.js';

export type { ResultLine } from './result-line.js';

/**
 * Which of two lines of one run stands: a later line replaces a failed one (the run was retried),
 * never a finished one (a copy of a run already finished changes nothing).
 */
export function standingLine<L extends { readonly status: string }>(earlier: L, later: L): L {
  return earlier.status === 'failed' ? later : earlier;
}

/** A line that `pmoe report` refuses (result-line.ts): its number in the file and why. */
export interface RefusedLine {
  readonly line: number;
  /** The line as the file holds it. */
  readonly text: string;
  readonly experiment: string;
  readonly key: string;
  readonly problem: string;
}

export interface ResultsContent {
  /** One line per run (standingLine), in the order of the file. */
  readonly lines: ResultLine[];
  /** 1 when the last line is a sweep's line cut short (a write killed); a line cut short with lines after it is refused. */
  readonly tornLines: number;
  /** Lines of runs that a later line replaced (a failure retried) or that repeat a finished run. */
  readonly supersededLines: number;
  /** Lines shaped as a sweep's but refused by the report's checks: not finished, so their runs run again; the rewrite drops them. */
  readonly refusedLines: readonly RefusedLine[];
}

const CUT_SHORT = 'a result line cut short with lines after it (files joined after a write was cut?); only the last line may be cut short';

/** A file that holds something other than a sweep's lines: nothing that rewrites results files touches it. */
export class NotResultsFileError extends Error {
  override name = 'NotResultsFileError';
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(
      `'${path}' is not a pmoe results file (${problem}); a sweep rewrites its results file as it resumes, so it writes only ` +
        'to a new file or to one whose every line is a sweep result line: name another results file',
    );
  }
}

/** The lines of `path` (none when it is missing); a path that is not a regular file is a NotResultsFileError. */
function* resultsFileLines(path: string): Generator<FileLine> {
  let fd: number | undefined;
  try {
    fd = openLines(path);
  } catch (error) {
    throw new NotResultsFileError(path, fsProblem(error));
  }
  if (fd !== undefined) yield* fileLines(fd);
}

/** Why `path` is not a results file that a sweep may resume and rewrite (its first foreign line), or undefined: a missing file is an empty one. */
export function resultsFileProblem(path: string): string | undefined {
  try {
    for (const { text, number, ended } of resultsFileLines(path)) {
      const verdict = judgeResultLine(text);
      if (verdict.kind === 'foreign') return `line ${number}: ${verdict.problem}`;
      if (verdict.kind === 'torn' && ended) return `line ${number}: ${CUT_SHORT}`;
    }
  } catch (error) {
    if (error instanceof NotResultsFileError) return error.problem;
    throw error;
  }
  return undefined;
}

/**
 * Reads a JSON Lines results file; a missing file is empty. Lines are judged as `pmoe report`
 * judges them (result-line.ts): a file with a line that is not a sweep's is refused whole
 * (NotResultsFileError), and lines the report refuses are set apart, not counted as runs.
 */
export function readResults(path: string): ResultsContent {
  const byRun = new Map<string, ResultLine>();
  const refusedLines: RefusedLine[] = [];
  let tornLines = 0;
  let supersededLines = 0;
  for (const { text, number, ended } of resultsFileLines(path)) {
    const verdict = judgeResultLine(text);
    if (verdict.kind === 'blank') continue;
    // A kill cuts only the last line short; one with lines after it is not what a sweep leaves.
    if (verdict.kind === 'torn' && ended) throw new NotResultsFileError(path, `line ${number}: ${CUT_SHORT}`);
    if (verdict.kind === 'torn') tornLines++;
    else if (verdict.kind === 'foreign') throw new NotResultsFileError(path, `line ${number}: ${verdict.problem}`);
    else if (verdict.kind === 'refused') refusedLines.push({ line: number, text, experiment: verdict.experiment, key: verdict.key, problem: verdict.problem });
    else {
      const { line } = verdict;
      // As the report merges: one key is one run within an experiment (fig4's joint runs are fig9's too).
      const run = JSON.stringify([line.experiment, line.key]);
      const earlier = byRun.get(run);
      if (!earlier) byRun.set(run, line);
      else {
        supersededLines++;
        const standing = standingLine(earlier, line);
        // A replacing line moves to the end, where the file holds it.
        if (standing !== earlier) byRun.delete(run);
        byRun.set(run, standing);
      }
    }
  }
  return { lines: [...byRun.values()], tornLines, supersededLines, refusedLines };
}

/** Where the lines a rewrite of `path` drops as refused are kept. */
export const refusedLinesPath = (path: string) => `${path}.refused`;

/**
 * Rewrites the file atomically with one line per run, without torn, superseded or refused lines,
 * so appends start on a clean line. Refused lines are appended to refusedLinesPath first, so no
 * line is lost. Only ever called on what readResults read, so never on a file that is not a
 * results file.
 */
export async function repairResults(path: string, content: ResultsContent): Promise<void> {
  if (content.tornLines === 0 && content.supersededLines === 0 && content.refusedLines.length === 0) return;
  if (content.refusedLines.length > 0) appendToFile(refusedLinesPath(path), content.refusedLines.map((line) => `${line.text}\n`).join(''));
  await writeFileAtomically(path, content.lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
}

/**
 * Appends `value` as one JSON line and syncs it to disk: a kill leaves either the whole line or a
 * torn tail (no newline yet) that `readResults` drops, never a lost earlier line. Only a regular
 * file (or a new one) is appended to (util/output-file.ts); a failed write names the file.
 */
export function appendJsonLine(path: string, value: unknown): void {
  appendToFile(path, `${JSON.stringify(value)}\n`, { sync: true });
}

export function appendResult(path: string, line: ResultLine): void {
  appendJsonLine(path, line);
}
