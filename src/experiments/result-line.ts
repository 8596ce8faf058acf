/**
 * The one judgement of a results file's line, shared by the sweep's resume (results-file.ts) and
 * `pmoe report` (report/load-results.ts), so that the two never disagree on what a finished run is.
 * A line is, in order of the checks:
 *
 * - `blank`: empty or spaces; skipped;
 * - `torn`: the start of a sweep's line that does not parse (a write cut short by a kill);
 * - `foreign`: not a sweep's line at all (text, a `pmoe train` record, a report's JSON): a file
 *   holding one is not a results file, and nothing that rewrites results files may touch it;
 * - `refused`: shaped as a sweep's line, but not one a run can write: a value outside its range
 *   (an accuracy of 7), a key that is not its spec's, a run its experiment does not make. The
 *   report refuses the file; resume does not count the run as finished but runs it again;
 * - `valid`: `line` as written, `checked` with only the fields the report reads.
 */
import type { RunRecord, RunSpec } from '../training/run.js';
import type { FailedAttempt, FailureCause } from './failure.js';
import { experimentRunProblem } from './registry.js';
import { describeIssues, resultLineSchema } from './result-schema.js';
import { runKey } from './shard.js';

/**
 * One line of a results file: a finished run, or one that failed, keyed by its spec.
 * `failedAttempts` lists every failed attempt at the run, oldest first (a failed line's last entry
 * is its own `cause` and `error`); lines written before causes were recorded have neither.
 */
export type ResultLine =
  | { key: string; experiment: string; status: 'ok'; spec: RunSpec; record: RunRecord; failedAttempts?: readonly FailedAttempt[] }
  | { key: string; experiment: string; status: 'failed'; spec: RunSpec; error: string; cause?: FailureCause; failedAttempts?: readonly FailedAttempt[] };

/** How every line a sweep writes begins: JSON.stringify of a ResultLine, whose first field is `key`. */
export const RESULT_LINE_START = '{"key":"';

export type LineVerdict =
  | { readonly kind: 'blank' }
  | { readonly kind: 'torn' }
  | { readonly kind: 'foreign'; readonly problem: string }
  | { readonly kind: 'refused'; readonly problem: string; readonly experiment: string; readonly key: string }
  | { readonly kind: 'valid'; readonly line: ResultLine; readonly checked: unknown };

/** The problem of a foreign line that does not parse. */
export const NOT_JSON = 'it is not JSON';

const STATUSES: readonly unknown[] = ['ok', 'failed'];

/** Whether `text` could be the beginning of a sweep's line (of which a kill left only this much). */
const startsLikeResultLine = (text: string) => text.startsWith(RESULT_LINE_START) || RESULT_LINE_START.startsWith(text);

/** Whether `value` has the fields every sweep's line has; else what is missing, in words. */
function shapeProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return `it is JSON but not an object`;
  const line = value as Record<string, unknown>;
  if (typeof line.key !== 'string' || typeof line.experiment !== 'string' || !STATUSES.includes(line.status)) {
    const train = 'training' in line && 'epochs' in line;
    return train
      ? 'it is a run record as pmoe train --out writes them, not a sweep line (key, experiment, status)'
      : 'it has no key, experiment and status (ok or failed) as a sweep line has';
  }
  if (line.spec === null || typeof line.spec !== 'object') return 'it has no spec';
  return undefined;
}

/** The judgement of one line of text (without its newline). */
export function judgeResultLine(text: string): LineVerdict {
  if (text.trim() === '') return { kind: 'blank' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return startsLikeResultLine(text) ? { kind: 'torn' } : { kind: 'foreign', problem: NOT_JSON };
  }
  const shape = shapeProblem(parsed);
  if (shape) return { kind: 'foreign', problem: shape };
  const line = parsed as ResultLine;
  const refused = (problem: string): LineVerdict => ({ kind: 'refused', problem, experiment: line.experiment, key: line.key });
  const checked = resultLineSchema(parsed).safeParse(parsed);
  if (!checked.success) return refused(describeIssues(checked.error.issues, parsed));
  const expectedKey = runKey(line.spec);
  if (line.key !== expectedKey) return refused(`key: not the run key of its spec (got ${JSON.stringify(line.key)}, the spec's is "${expectedKey}")`);
  const problem = experimentRunProblem(line.experiment, line.spec);
  return problem === undefined ? { kind: 'valid', line, checked: checked.data } : refused(problem);
}
