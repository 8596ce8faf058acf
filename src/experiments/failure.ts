/**
 * Why a run failed, and whether running it again can change that. A sweep records the cause of
 * every failed attempt; a resumed sweep runs again the failures whose cause can change (a data
 * file fixed, a crash or kill that need not recur, memory freed) and keeps a divergence: the same
 * seed diverges the same way.
 */
import { DataFileError } from '../data/data-file-error.js';
import { DivergenceError } from '../training/sgd.js';
import { MemoryLimitError } from '../util/memory-estimate.js';

export const FAILURE_CAUSES = ['data', 'divergence', 'out-of-memory', 'killed', 'crash', 'error'] as const;
export type FailureCause = (typeof FAILURE_CAUSES)[number];

/** One failed attempt at a run, as the results file keeps it. */
export interface FailedAttempt {
  readonly cause: FailureCause;
  readonly error: string;
}

/** Which failed runs a resumed sweep runs again: those whose cause can change (default), all, or none. */
export const RETRY_POLICIES = ['changeable', 'all', 'none'] as const;
export type RetryPolicy = (typeof RETRY_POLICIES)[number];

/** Whether a failure with `cause` is run again under `policy`. */
export function retries(policy: RetryPolicy, cause: FailureCause): boolean {
  return policy === 'all' || (policy === 'changeable' && cause !== 'divergence');
}

const OUT_OF_MEMORY = /out of memory|\bOOM\b|allocation failed/i;
const DATA_ERRNO = new Set(['ENOENT', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'EIO', 'ELOOP']);

/** The cause of an error a run threw. */
export function causeOfError(error: unknown): FailureCause {
  if (error instanceof DivergenceError) return 'divergence';
  if (error instanceof DataFileError) return 'data';
  if (error instanceof MemoryLimitError) return 'out-of-memory';
  if (error instanceof Error && OUT_OF_MEMORY.test(error.message)) return 'out-of-memory';
  // A file that went missing or unreadable while the run read its data.
  if (DATA_ERRNO.has((error as NodeJS.ErrnoException | undefined)?.code ?? '')) return 'data';
  return 'error';
}

/** The cause of a worker process that ended during a run; `stderrTail` is the end of what it printed (V8's out-of-memory report). */
export function causeOfExit(signal: NodeJS.Signals | null, stderrTail: string): FailureCause {
  if (OUT_OF_MEMORY.test(stderrTail)) return 'out-of-memory';
  if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') return 'killed';
  return 'crash';
}
