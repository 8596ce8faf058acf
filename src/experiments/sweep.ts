import { fork, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import type { BackendName } from '../engine/backend.js';
import { mayHaveGpu } from '../engine/webgpu/gpu-device.js';
import type { RunRecord, RunSpec } from '../training/run.js';
import { memoryLimit } from '../util/memory-estimate.js';
import { causeOfExit, retries, type FailedAttempt, type FailureCause, type RetryPolicy } from './failure.js';
import { preflightRun } from './preflight.js';
import { appendResult, readResults, repairResults, type ResultLine } from './results-file.js';
import { lockResults, resolveResultsPath } from './results-lock.js';
import { inShard, runKey, type Shard } from './shard.js';
import type { WorkerReply } from './sweep-worker.js';
import { AUTO_GPU_VARIABLE } from './sweep-worker-env.js';

export interface SweepProgress {
  readonly done: number;
  readonly total: number;
  readonly label: string;
  /** Seconds left at the pace of the runs finished since this sweep started (not those resumed from the file); NaN before the first. */
  readonly etaSeconds: number;
}

export interface SweepOptions {
  /** Name written into every line. */
  readonly experiment: string;
  /** JSON Lines file to append to and resume from; without it results stay in memory. */
  readonly resultsPath?: string;
  /** The caller holds `resultsPath`'s lock already (lockResults), across several sweeps into it. */
  readonly resultsLocked?: boolean;
  /** Worker processes; default defaultJobs(backend): one per core, one on a GPU. */
  readonly jobs?: number;
  readonly shard?: Shard;
  readonly backend?: BackendName;
  /** Which runs that failed in an earlier sweep into the results file run again; default 'changeable' (all but divergences). */
  readonly retry?: RetryPolicy;
  readonly onProgress?: (progress: SweepProgress) => void;
}

export interface SweepResult {
  /** Every finished line of this shard's runs, in the order of `specs`. */
  readonly lines: ResultLine[];
  /** Runs executed now (the rest were already in the results file). */
  readonly ran: number;
  /** Of those, runs that had failed before and were tried again. */
  readonly retried: number;
}

/** Every failed attempt a line records (a line from before causes were recorded: its one error, cause unknown). */
function failedAttemptsOf(line: ResultLine): readonly FailedAttempt[] {
  if (line.failedAttempts) return line.failedAttempts;
  return line.status === 'failed' ? [{ cause: line.cause ?? 'error', error: line.error }] : [];
}

/** Whether a sweep's runs would go to a GPU under `auto`: the image models (WRN, WRN-pMoE) do; see EngineOptions.gpu. */
export function runsWantGpu(specs: readonly RunSpec[]): boolean {
  return specs.some((spec) => 'kind' in spec && spec.kind === 'image');
}

/**
 * Worker processes when none are asked for: one per core, but one where the runs go to a GPU
 * (`webgpu`, or `auto` for image models on a machine with a GPU device node, where auto picks
 * it), since every worker would share the one device and hold its own copy of the model there.
 */
export function defaultJobs(backend: BackendName = 'auto', gpuRuns = true): number {
  return backend === 'webgpu' || (backend === 'auto' && gpuRuns && mayHaveGpu()) ? 1 : availableParallelism();
}

/**
 * Runs the independent runs of a sweep in worker processes (the wasm backend is single-threaded,
 * so processes are how a sweep uses every core). Each finished run is appended to the results
 * file at once; runs already there are skipped, so a killed sweep resumes where it stopped.
 * Runs that failed there are run again as `retry` says; the new line keeps every attempt's cause.
 */
export async function runSweep(specs: readonly RunSpec[], options: SweepOptions): Promise<SweepResult> {
  const unique = new Map(specs.map((spec) => [runKey(spec), spec]));
  const keyed = [...unique].map(([key, spec]) => ({ key, spec }));
  const selected = options.shard ? inShard(keyed, options.shard) : keyed;
  // Every run is checked before a file is touched or a worker started: a bad setting fails the sweep, not each run.
  const limit = memoryLimit();
  for (const { spec } of selected) {
    try {
      preflightRun(spec, limit);
    } catch (error) {
      if (error instanceof Error) error.message = `run ${describeRun(spec, 'todo')}: ${error.message}`;
      throw error;
    }
  }
  // Only one sweep writes a results file at a time; the lock is taken before the file is read.
  let release: (() => Promise<void>) | undefined;
  if (options.resultsPath) await mkdir(dirname(options.resultsPath), { recursive: true });
  if (options.resultsPath && !options.resultsLocked) release = await lockResults(options.resultsPath);
  try {
    // The real file, through symlinks: the one the lock is on.
    const file = options.resultsPath === undefined ? undefined : resolveResultsPath(options.resultsPath);
    const content = file === undefined ? undefined : readResults(file);
    const finished = new Map<string, ResultLine>(content?.lines.map((line) => [line.key, line]));
    const policy = options.retry ?? 'changeable';
    const todo = selected.filter(({ key }) => {
      const line = finished.get(key);
      return line === undefined || (line.status === 'failed' && retries(policy, line.cause ?? 'error'));
    });
    if (file !== undefined && content) await repairResults(file, content);
    const total = selected.length;
    let done = total - todo.length;
    let ranNow = 0;
    let retried = 0;
    const started = performance.now();
    const gpuRuns = runsWantGpu(todo.map(({ spec }) => spec));
    const jobs = Math.max(1, Math.min(options.jobs ?? defaultJobs(options.backend, gpuRuns), todo.length));
    const report = (label: string) => {
      const elapsed = (performance.now() - started) / 1000;
      options.onProgress?.({ done, total, label, etaSeconds: ranNow === 0 ? NaN : (elapsed / ranNow) * (total - done) });
    };
    report('starting');

    let next = 0;
    const lane = async () => {
      let worker: Worker | undefined;
      try {
        while (next < todo.length) {
          const { key, spec } = todo[next++];
          worker ??= startWorker(options.backend, Math.max(1, Math.floor(availableParallelism() / jobs)), gpuRuns);
          const reply = await ask(worker, key, spec);
          const earlier = finished.get(key);
          const before = earlier ? failedAttemptsOf(earlier) : [];
          if (before.length > 0) retried++;
          const line: ResultLine =
            'record' in reply
              ? { key, experiment: options.experiment, status: 'ok', spec, record: reply.record, ...(before.length > 0 ? { failedAttempts: before } : {}) }
              : {
                  key,
                  experiment: options.experiment,
                  status: 'failed',
                  spec,
                  error: reply.error,
                  cause: reply.cause,
                  failedAttempts: [...before, { cause: reply.cause, error: reply.error }],
                };
          if (file !== undefined) appendResult(file, line);
          finished.set(key, line);
          if ('crashed' in reply) worker = undefined;
          done++;
          ranNow++;
          report(describeRun(spec, line.status));
        }
      } finally {
        worker?.process.disconnect();
      }
    };
    await Promise.all(Array.from({ length: jobs }, lane));
    // A retried run's new line replaced its failed one: drop the old line from the file.
    if (file !== undefined && retried > 0) await repairResults(file, readResults(file));
    return { lines: selected.map(({ key }) => finished.get(key)!).filter(Boolean), ran: ranNow, retried };
  } finally {
    await release?.();
  }
}

/** A worker process, and the end of what it wrote to stderr (V8 reports running out of memory there before it aborts). */
interface Worker {
  readonly process: ChildProcess;
  stderrTail: string;
}

/**
 * A worker process; `threads`: the cores it may use for one run's products (kernels/gemm-threads.ts);
 * `gpu`: whether `auto` may pick a GPU there.
 */
function startWorker(backend: BackendName | undefined, threads: number, gpu: boolean): Worker {
  const child = fork(new URL('./sweep-worker.js', import.meta.url), [], {
    env: {
      ...process.env,
      PMOE_BACKEND: backend ?? 'auto',
      PMOE_THREADS: process.env.PMOE_THREADS ?? String(threads),
      [AUTO_GPU_VARIABLE]: gpu ? '1' : '0',
    },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  const worker: Worker = { process: child, stderrTail: '' };
  child.on('error', () => {}); // a run sent to a worker that has just died: its 'close' reports the run
  child.stderr!.on('data', (chunk: Buffer) => {
    process.stderr.write(chunk);
    worker.stderrTail = (worker.stderrTail + chunk.toString()).slice(-4096);
  });
  return worker;
}

const EXIT_HINTS: Partial<Record<FailureCause, string>> = {
  killed: ': killed by a signal (by hand, or by the system when memory ran low)',
  'out-of-memory': ': it ran out of memory',
};

/** Sends one run; a worker that dies first (out of memory, killed) yields a failure for that run. */
function ask(worker: Worker, key: string, spec: RunSpec): Promise<WorkerReply | { key: string; error: string; cause: FailureCause; crashed: true }> {
  const child = worker.process;
  return new Promise((resolve) => {
    // Killed while idle between two runs: its 'close' has come and gone.
    if (!child.connected) {
      const cause = causeOfExit(child.signalCode, worker.stderrTail);
      resolve({
        key,
        error: `worker process ended (${child.signalCode ?? `exit code ${child.exitCode}`}) before the run${EXIT_HINTS[cause] ?? ''}`,
        cause,
        crashed: true,
      });
      return;
    }
    const onMessage = (reply: WorkerReply) => {
      if (reply.key !== key) return;
      child.off('close', onClose);
      child.off('message', onMessage);
      resolve(reply);
    };
    // 'close', not 'exit': by then its stderr has been read to the end.
    const onClose = (code: number | null, signal: NodeJS.Signals | null) => {
      child.off('message', onMessage);
      const cause = causeOfExit(signal, worker.stderrTail);
      resolve({ key, error: `worker process ended (${signal ?? `exit code ${code}`}) during the run${EXIT_HINTS[cause] ?? ''}`, cause, crashed: true });
    };
    child.on('message', onMessage);
    child.once('close', onClose);
    child.send({ key, spec });
  });
}

function describeRun(spec: RunSpec, status: string): string {
  const model = 'kind' in spec ? spec.model.architecture : (spec.training?.model ?? 'joint');
  return `${model} N=${spec.data.trainSize} seed=${spec.training?.seed ?? 0}${status === 'failed' ? ' FAILED' : ''}`;
}

/** The records of the successful lines. */
export function okRecords(lines: readonly ResultLine[]): RunRecord[] {
  return lines.flatMap((line) => (line.status === 'ok' ? [line.record] : []));
}
