import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { writeFileAtomically } from '../util/atomic-write.js';
import type { RunRecord, RunSpec } from '../training/run.js';
import type { FailedAttempt, FailureCause } from './failure.js';

/**
 * One line of a results file: a finished run, or one that failed, keyed by its spec.
 * `failedAttempts` lists every failed attempt at the run, oldest first (a failed line's last entry
 * is its own `cause` and `error`); lines written before causes were recorded have neither.
 */
export type ResultLine =
  | { key: string; experiment: string; status: 'ok'; spec: RunSpec; record: RunRecord; failedAttempts?: readonly FailedAttempt[] }
  | { key: string; experiment: string; status: 'failed'; spec: RunSpec; error: string; cause?: FailureCause; failedAttempts?: readonly FailedAttempt[] };

/**
 * Which of two lines of one run stands: a later line replaces a failed one (the run was retried),
 * never a finished one (a copy of a run already finished changes nothing).
 */
export function standingLine<L extends { readonly status: string }>(earlier: L, later: L): L {
  return earlier.status === 'failed' ? later : earlier;
}

export interface ResultsContent {
  /** One line per run (standingLine), in the order of the file. */
  readonly lines: ResultLine[];
  /** Lines that are not complete JSON records: at most a last line torn by a kill. */
  readonly tornLines: number;
  /** Lines of runs that a later line replaced (a failure retried) or that repeat a finished run. */
  readonly supersededLines: number;
}

/** Reads a JSON Lines results file; a missing file is empty. */
export function readResults(path: string): ResultsContent {
  if (!existsSync(path)) return { lines: [], tornLines: 0, supersededLines: 0 };
  const text = readFileSync(path, 'utf8');
  const byKey = new Map<string, ResultLine>();
  let tornLines = 0;
  let supersededLines = 0;
  const parts = text.split('\n');
  parts.forEach((part, index) => {
    if (part === '') return;
    const complete = index < parts.length - 1; // the last part has no newline: torn
    let parsed: ResultLine;
    try {
      parsed = JSON.parse(part) as ResultLine;
      if (!complete || typeof parsed.key !== 'string') throw new Error('incomplete');
    } catch {
      tornLines++;
      return;
    }
    const earlier = byKey.get(parsed.key);
    if (earlier) {
      supersededLines++;
      const standing = standingLine(earlier, parsed);
      // A replacing line moves to the end, where the file holds it.
      if (standing !== earlier) byKey.delete(parsed.key);
      byKey.set(parsed.key, standing);
    } else byKey.set(parsed.key, parsed);
  });
  return { lines: [...byKey.values()], tornLines, supersededLines };
}

/** Rewrites the file atomically without torn or superseded lines, so appends start on a clean line and each run has one. */
export async function repairResults(path: string, content: ResultsContent): Promise<void> {
  if (content.tornLines === 0 && content.supersededLines === 0) return;
  await writeFileAtomically(path, content.lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
}

/**
 * Appends `value` as one JSON line and syncs it to disk: a kill leaves either the whole line or a
 * torn tail (no newline yet) that `readResults` drops, never a lost earlier line.
 */
export function appendJsonLine(path: string, value: unknown): void {
  const bytes = Buffer.from(`${JSON.stringify(value)}\n`);
  const fd = openSync(path, 'a');
  try {
    // writeSync may write less than asked (a signal, a full pipe or quota): write the rest.
    for (let written = 0; written < bytes.length;) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function appendResult(path: string, line: ResultLine): void {
  appendJsonLine(path, line);
}
