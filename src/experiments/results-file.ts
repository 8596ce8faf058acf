import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { writeFileAtomically } from '../util/atomic-write.js';
import type { RunRecord, RunSpec } from '../training/run.js';

/** One line of a results file: a finished run (or one that failed for good), keyed by its spec. */
export type ResultLine =
  | { key: string; experiment: string; status: 'ok'; spec: RunSpec; record: RunRecord }
  | { key: string; experiment: string; status: 'failed'; spec: RunSpec; error: string };

export interface ResultsContent {
  readonly lines: ResultLine[];
  /** Lines that are not complete JSON records: at most a last line torn by a kill. */
  readonly tornLines: number;
}

/** Reads a JSON Lines results file; a missing file is empty. */
export function readResults(path: string): ResultsContent {
  if (!existsSync(path)) return { lines: [], tornLines: 0 };
  const text = readFileSync(path, 'utf8');
  const lines: ResultLine[] = [];
  let tornLines = 0;
  const parts = text.split('\n');
  parts.forEach((part, index) => {
    if (part === '') return;
    const complete = index < parts.length - 1; // the last part has no newline: torn
    try {
      const parsed = JSON.parse(part) as ResultLine;
      if (!complete || typeof parsed.key !== 'string') throw new Error('incomplete');
      lines.push(parsed);
    } catch {
      tornLines++;
    }
  });
  return { lines, tornLines };
}

/** Rewrites the file atomically without torn lines, so appends start on a clean line. */
export async function repairResults(path: string, content: ResultsContent): Promise<void> {
  if (content.tornLines === 0) return;
  await writeFileAtomically(path, content.lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
}

/**
 * Appends `value` as one JSON line with a single write and syncs it to disk: a kill leaves either
 * the whole line or a torn tail that `readResults` drops, never a lost earlier line.
 */
export function appendJsonLine(path: string, value: unknown): void {
  const fd = openSync(path, 'a');
  try {
    writeSync(fd, `${JSON.stringify(value)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function appendResult(path: string, line: ResultLine): void {
  appendJsonLine(path, line);
}
