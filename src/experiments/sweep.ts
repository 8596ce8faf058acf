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
import { fsProblem } from '../util/fs-problem.js';
import { OptionError } from '../util/options.js';
import { OutputFileError } from '../util/output-file.js';
import { appendResult, readResults, refusedLinesPath, repairResults, type RefusedLine, type ResultLine } from './results-file.js';
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
  /** Lines of the results file that the report refuses (result-line.ts): their runs ran again, the lines moved to `<file>.refused`. */
  readonly refusedLines: readonly RefusedLine[];
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
 * The most worker processes one sweep starts: four per core of this machine. Each is a process of
 * its own (its memory, its engine), and more than the cores only queue for them.
 */
export const maxJobs = (): number => 4 * availableParallelism();

/**
 * Runs the independent runs of a sweep in worker processes (the wasm backend is single-threaded,
 * so processes are how a sweep uses every core). Each finished run is appended to the results
 * file at once; runs already there are skipped, so a killed sweep resumes where it stopped.
 * Runs that failed there are run again as `retry` says; the new line keeps every attempt's cause.
 */
export async function runSweep(specs: readonly RunSpec[], options: SweepOptions): Promise<SweepResult> {
  if (options.jobs !== undefined && !(Number.isInteger(options.jobs) && options.jobs >= 1 && options.jobs <= maxJobs())) {
    throw new OptionError(`jobs: must be an integer in 1..${maxJobs()}, four worker processes per core of this machine at most (got ${options.jobs})`);
  }
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
    // Judged line by line as the report judges it: a file that is not a results file is refused here, before any run.
    const content = file === undefined ? undefined : readResults(file);
    // Finished means finished under this experiment: a line the report files under another one does not count.
    const finished = new Map<string, ResultLine>(content?.lines.filter((line) => line.experiment === options.experiment).map((line) => [line.key, line]));
    const policy = options.retry ?? 'changeable';
    const todo = selected.filter(({ key }) => {
      const line = finished.get(key);
      return line === undefined || (line.status === 'failed' && retries(policy, line.cause ?? 'error'));
    });
    if (file !== undefined && content) {
      await repairResults(file, content);
      const refused = content.refusedLines;
      if (refused.length > 0) {
        const shown = refused.slice(0, 3).map((line) => `line ${line.line}: ${line.problem}`);
        process.stderr.write(
          `warning: ${file}: ${refused.length} line(s) that pmoe report refuses (${shown.join('; ')}${refused.length > 3 ? '; ...' : ''}) ` +
            `moved to ${refusedLinesPath(file)}; runs of this sweep among them run again\n`,
        );
      }
    }
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
    // A line that cannot be written (a full disk) ends the sweep: no lane starts another run, and the runs under way are stopped.
    let writeFailure: Error | undefined;
    const workers = new Set<Worker>();
    const lane = async () => {
      let worker: Worker | undefined;
      try {
        while (next < todo.length && writeFailure === undefined) {
          const { key, spec } = todo[next++];
          if (worker === undefined) workers.add((worker = startWorker(options.backend, Math.max(1, Math.floor(availableParallelism() / jobs)), gpuRuns)));
          const reply = await ask(worker, key, spec);
          if (writeFailure !== undefined) break;
          const earlier = finished.get(key);
          const before = earlier ? failedAttemptsOf(earlier) : [];
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
          if (file !== undefined) {
            try {
              appendResult(file, line);
            } catch (error) {
              writeFailure = new ResultsWriteError(file, describeRun(spec, 'todo'), done, total, error);
              for (const running of workers) running.process.kill('SIGTERM');
              break;
            }
          }
          if (before.length > 0) retried++;
          finished.set(key, line);
          if ('crashed' in reply) {
            workers.delete(worker);
            worker = undefined;
          }
          done++;
          ranNow++;
          report(describeRun(spec, line.status));
        }
      } finally {
        if (worker?.process.connected) worker.process.disconnect();
      }
    };
    await Promise.all(Array.from({ length: jobs }, lane));
    if (writeFailure) throw writeFailure;
    // A retried run's new line replaced its failed one: drop the old line from the file.
    if (file !== undefined && retried > 0) await repairResults(file, readResults(file));
    return {
      lines: selected.map(({ key }) => finished.get(key)!).filter(Boolean),
      ran: ranNow,
      retried,
      refusedLines: content?.refusedLines ?? [],
    };
  } finally {
    await release?.();
  }
}

/** A results line that could not be appended (a full disk, a quota): names the file, the run and what is kept. */
export class ResultsWriteError extends Error {
  override name = 'ResultsWriteError';
  constructor(
    readonly path: string,
    run: string,
    finished: number,
    total: number,
    cause: unknown,
  ) {
    const problem = cause instanceof OutputFileError ? cause.problem : fsProblem(cause);
    super(
      `cannot append run ${run} to the results file '${path}': ${problem}. The sweep stopped; ${finished} of its ${total} runs are ` +
        'in the file, and the same command resumes after them once the file can be written',
      { cause },
    );
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
