import type * as WorkerThreads from 'node:worker_threads';
import type * as Os from 'node:os';
import { nodeBuiltin } from '../util/node-builtin.js';
import { SHARED_MAX_PAGES } from './module-bytes.js';
import { fusedMultiplyAdd, gemmModuleBytes, type Kernels } from './simd-gemm.js';
import { winogradModuleBytes, type WinogradKernels } from './simd-winograd.js';
import { moduleBytes } from './module-bytes.js';
import type { BatchNormKernels } from './simd-batch-norm.js';

/**
 * The SIMD products on two threads: this one and one worker thread, over a shared wasm memory
 * (the arena) that both instantiate the GEMM module on (and the Winograd convolutions' module, simd-winograd.ts).
 *
 * Why: tfjs's wasm backend runs one thread in Node (its multithreading flag is off there, and its
 * threaded build hands its pthread workers a blob: URL, which Node's worker_threads cannot open),
 * and a Wide-ResNet training step spends two thirds of its time in convolution products that
 * split cleanly by output rows or by positions. The backend's heap is not shared,
 * so callers copy operands into the arena and results out (a few hundred microseconds per
 * convolution against milliseconds of products).
 *
 * `PMOE_THREADS=1` turns it off; sweeps running one worker process per core set it for their workers.
 */
const MAX_PAGES = SHARED_MAX_PAGES; // 1 GiB of address space, reserved, not committed
const PAGE = 65536;
/**
 * The arena's first 256 MiB are kept between operations: row tables (table()) below 192 MiB,
 * copies of weights (keptCopy()) above; operations' scratch lies above both. Address space
 * only: pages are committed as they are written.
 */
const MIB = 2 ** 20;
const TABLES_END = 192 * MIB;
const KEPT_END = 256 * MIB;

/** What a kept space records: a Map for string keys, a WeakMap for dataIds (no hold on dead tensors). */
type KeptIndex<K> = { get(key: K): { ptr: number; length: number } | undefined; set(key: K, value: { ptr: number; length: number }): unknown };

/**
 * A region of the arena handed out in order, with what each piece holds recorded by key; when
 * full, emptied (its index replaced) and reused, but not within one operation (what the
 * operation took already may still be in use).
 */
class KeptSpace<K> {
  private top: number;
  private index: KeptIndex<K>;
  /** Whether the current operation took space here (reset by GemmThreads.reset()). */
  used = false;

  constructor(
    private readonly start: number,
    private readonly end: number,
    private readonly newIndex: () => KeptIndex<K>,
  ) {
    this.top = start;
    this.index = newIndex();
  }

  /** Where `length` elements were kept under `key`, or null. */
  find(key: K, length: number): number | null {
    const kept = this.index.get(key);
    return kept !== undefined && kept.length === length ? kept.ptr : null;
  }

  /** The address of `length` 4-byte elements kept under `key`, or null where they exceed a quarter of the space or the operation filled it. */
  put(key: K, length: number): number | null {
    const bytes = Math.ceil((4 * length + 64) / 64) * 64;
    if (4 * bytes > this.end - this.start) return null;
    if (this.top + bytes > this.end) {
      if (this.used) return null;
      this.top = this.start;
      this.index = this.newIndex();
    }
    const ptr = this.top;
    this.top += bytes;
    this.used = true;
    this.index.set(key, { ptr, length });
    return ptr;
  }
}

/** The product module's functions the worker runs, the Winograd drivers, then the batch-norm module's (the fused image trainer splits its passes too). */
const FUNCTIONS = [
  'gemmSeg',
  'gemmTChunks',
  'gemm',
  'gemmT',
  'spmm',
  'winogradForward',
  'winogradFilterGradient',
  'affine',
  'affineRelu',
  'blockSums',
  'blockSquares',
  'reluBlockSums',
] as const;
type BatchNormFunction = 'affine' | 'affineRelu' | 'blockSums' | 'blockSquares' | 'reluBlockSums';
type WinogradFunction = 'winogradForward' | 'winogradFilterGradient';
export type SplitFunction = (typeof FUNCTIONS)[number];
// Control words: job sequence number, finished sequence number, error flag, function, claimed
// sequence number (the last job a thread took), memory (0: the arena, else an attached one), the
// job after which the worker sleeps at once (rest()), arguments.
const [JOB, DONE, FAILED, FUNCTION, CLAIMED, MEMORY, REST, ARGS] = [0, 1, 2, 3, 4, 5, 6, 7];
const MAX_ARGS = 9;
const WAIT_LIMIT_MS = 120_000;
/**
 * How long each side polls before it sleeps in Atomics.wait: waking a sleeping thread took ~1 ms
 * on these VMs (measured: a 2 ms half of a product finished 1 ms after this thread's half), which
 * lost most of what the second thread gained. The worker polls this long after each job, so it is
 * awake for the next product of a training step; then it sleeps, leaving the core to others.
 */
const WORKER_POLL_MS = 5;
const CALLER_POLL_MS = 50;

const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const { module, winograd, batchNorm, memory, control, errors, attachments } = workerData;
const gemmTChunks = ${gemmTChunks.toString()};
const names = ${JSON.stringify(FUNCTIONS)};
const memories = new Map();
function bind(id, memory) {
  const instance = (m) => new WebAssembly.Instance(m, { env: { memory } }).exports;
  const kernels = Object.assign({}, instance(batchNorm), instance(winograd), instance(module));
  memories.set(id, (name, args) => (name === 'gemmTChunks' ? gemmTChunks(kernels, ...args) : kernels[name](...args)));
}
bind(0, memory);
// Memories attached later (GemmThreads.attach) arrive as messages, read when a job names one.
function runner(id) {
  for (;;) {
    const run = memories.get(id);
    if (run !== undefined) return run;
    const received = receiveMessageOnPort(attachments);
    if (received === undefined) throw new Error('memory ' + id + ' was never attached');
    if (received.message.memory) bind(received.message.id, received.message.memory);
    else memories.delete(received.message.id);
  }
}
let seen = 0;
for (;;) {
  const until = performance.now() + ${WORKER_POLL_MS};
  while (Atomics.load(control, ${JOB}) === seen && Atomics.load(control, ${REST}) !== seen && performance.now() < until);
  Atomics.wait(control, ${JOB}, seen);
  seen = Atomics.load(control, ${JOB});
  // The caller runs the job itself when it finishes its own part first (see split()).
  if (Atomics.compareExchange(control, ${CLAIMED}, seen - 1, seen) !== seen - 1) continue;
  try {
    runner(control[${MEMORY}])(names[control[${FUNCTION}]], control.subarray(${ARGS}, ${ARGS + MAX_ARGS}));
  } catch (error) {
    errors.postMessage(error instanceof Error ? error.stack ?? error.message : String(error));
    Atomics.store(control, ${FAILED}, 1);
  }
  Atomics.store(control, ${DONE}, seen);
  Atomics.notify(control, ${DONE});
}
`;

/**
 * gemmT over k rows in chunks of `chunk`, chunk i's [m, n] product written at c + 4 i m n, so
 * that the caller can add the chunks in float64 (a long float32 sum of cancelling terms loses
 * digits: a stem's filter gradient over 2048 positions came out 4e-4 off). Plain JS, also run
 * on the worker thread from its source text.
 */
export function gemmTChunks(kernels: Kernels, m: number, n: number, k: number, rows: number, b: number, c: number, chunk: number): void {
  for (let p = 0, i = 0; p < k; p += chunk, i++) kernels.gemmT(m, n, Math.min(chunk, k - p), rows + 4 * p, b + 4 * p * n, c + 4 * i * m * n);
}

/** The operands of one operation do not fit the arena (the caller runs it on the heap instead). */
export class ArenaFullError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ArenaFullError';
  }
}

/** A shared memory both threads run the product module (and the Winograd and batch-norm modules) on: 0 is the arena's own (see GemmThreads.attach). */
export interface SharedKernels {
  readonly id: number;
  readonly kernels: Kernels;
  readonly winograd: WinogradKernels;
  readonly batchNorm: BatchNormKernels;
}

export class GemmThreads {
  readonly memory: WebAssembly.Memory;
  readonly kernels: Kernels;
  /** The Winograd kernels on the arena (split() runs their drivers on either thread). */
  readonly winograd: WinogradKernels;
  /** The product module both threads instantiate (shared memory; fused multiply-adds where fusedMultiplyAdd() says so). */
  readonly module: WebAssembly.Module;
  /** The Winograd module (simd-winograd.ts), which both threads bind beside the products on every memory. */
  private readonly winogradModule: WebAssembly.Module;
  /** The batch-norm module (simd-batch-norm.ts) for shared memories, which the worker binds beside the products. */
  private readonly batchNormModule: WebAssembly.Module;
  private readonly own: SharedKernels;
  private readonly control = new Int32Array(new SharedArrayBuffer(4 * (ARGS + MAX_ARGS)));
  private readonly worker: WorkerThreads.Worker;
  /** The worker's reports of failed jobs, read synchronously (receiveMessageOnPort) when one fails. */
  private readonly errors: WorkerThreads.MessagePort;
  /** Memories attached for the worker, read by it synchronously when a job names one. */
  private readonly attachments: WorkerThreads.MessagePort;
  private readonly attached = new WeakMap<WebAssembly.Memory, SharedKernels>();
  /** Lets the worker drop its binding of an attached memory that was collected here without detach(). */
  private readonly collected = new FinalizationRegistry<number>((id) => this.attachments.postMessage({ id, memory: null }));
  private lastId = 0;
  private readonly receive: typeof WorkerThreads.receiveMessageOnPort;
  private job = 0;
  private top = KEPT_END;
  private readonly tables = new KeptSpace<string>(64, TABLES_END, () => new Map());
  private readonly copies = new KeptSpace<object>(TABLES_END, KEPT_END, () => new WeakMap());

  constructor() {
    const module = new WebAssembly.Module(gemmModuleBytes(fusedMultiplyAdd(), true));
    this.module = module;
    this.memory = newSharedMemory();
    this.kernels = new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports as unknown as Kernels;
    const winograd = (this.winogradModule = new WebAssembly.Module(winogradModuleBytes(fusedMultiplyAdd(), true)));
    const batchNorm = (this.batchNormModule = new WebAssembly.Module(moduleBytes('batch-norm-shared')));
    this.own = this.bind(0, this.memory);
    this.winograd = this.own.winograd;
    const threads = nodeBuiltin<typeof WorkerThreads>('node:worker_threads');
    if (!threads) throw new Error('gemm threads: no node:worker_threads here');
    const errors = new threads.MessageChannel();
    const attachments = new threads.MessageChannel();
    this.errors = errors.port1;
    this.errors.unref();
    this.attachments = attachments.port1;
    this.attachments.unref();
    this.receive = threads.receiveMessageOnPort;
    this.worker = new threads.Worker(WORKER_SOURCE, {
      eval: true,
      // The source is CommonJS; a parent started with --input-type=module would make it ESM.
      execArgv: workerExecArgv(process.execArgv),
      workerData: { module, winograd, batchNorm, memory: this.memory, control: this.control, errors: errors.port2, attachments: attachments.port2 },
      transferList: [errors.port2, attachments.port2],
    });
    this.worker.unref();
  }

  /**
   * Lets split() run products on another shared memory (one made by newSharedMemory()), such as a
   * fused trainer's arena: the worker binds the module to it when a job first names it. Returns
   * the same binding for a memory attached before.
   */
  attach(memory: WebAssembly.Memory): SharedKernels {
    let binding = this.attached.get(memory);
    if (binding === undefined) {
      binding = this.bind(++this.lastId, memory);
      this.attachments.postMessage({ id: binding.id, memory });
      this.attached.set(memory, binding);
      this.collected.register(memory, binding.id, memory);
    }
    return binding;
  }

  private bind(id: number, memory: WebAssembly.Memory): SharedKernels {
    const instance = (module: WebAssembly.Module) => new WebAssembly.Instance(module, { env: { memory } }).exports;
    return {
      id,
      kernels: id === 0 ? this.kernels : (instance(this.module) as unknown as Kernels),
      winograd: instance(this.winogradModule) as unknown as WinogradKernels,
      batchNorm: instance(this.batchNormModule) as unknown as BatchNormKernels,
    };
  }

  /** Lets the worker drop its binding of an attached memory (the memory is no longer used). */
  detach(memory: WebAssembly.Memory): void {
    const binding = this.attached.get(memory);
    if (binding === undefined) return;
    this.attached.delete(memory);
    this.collected.unregister(memory);
    this.attachments.postMessage({ id: binding.id, memory: null });
  }

  /** Byte address of `floats` 4-byte elements of the arena, 64-byte aligned; ArenaFullError past the arena's 1 GiB. */
  alloc(floats: number): number {
    const ptr = this.top;
    this.top += Math.ceil((floats * 4 + 64) / 64) * 64;
    if (this.top > MAX_PAGES * PAGE) {
      this.top = ptr;
      throw new ArenaFullError(`gemm threads: ${floats * 4} bytes do not fit the ${MAX_PAGES * PAGE - KEPT_END}-byte scratch of the arena`);
    }
    this.ensure(this.top);
    return ptr;
  }

  /** Frees every scratch region (one operation's workspace at a time); cached tables stay. */
  reset(): void {
    this.top = KEPT_END;
    this.tables.used = false;
    this.copies.used = false;
  }

  /**
   * A table of `length` int32 entries kept in the arena under `key`: built by `build(ints, at)`
   * on first use, then used where it lies. When the table space is full, it is emptied and
   * tables are rebuilt on their next use. A table too large for it is built in the scratch.
   */
  table(key: string, length: number, build: (addresses: Int32Array, at: number) => void): number {
    const kept = this.tables.find(key, length);
    if (kept !== null) return kept;
    const ptr = this.keep(this.tables, key, length);
    build(this.ints(), ptr / 4);
    return ptr;
  }

  /**
   * The arena address of a copy of a tensor's values, kept under its dataId (tfjs never changes
   * a tensor's data in place), so that later calls with the same tensor, such as a layer's
   * weights in inference, copy nothing. Weights that change every step (training) only cycle
   * through their own space. Take views after this: it may grow the arena.
   */
  keptCopy(dataId: object, values: Float32Array): number {
    const kept = this.copies.find(dataId, values.length);
    if (kept !== null) return kept;
    const ptr = this.keep(this.copies, dataId, values.length);
    this.floats().set(values, ptr / 4);
    return ptr;
  }

  /** `length` elements kept in `space` under `key`, or of the scratch where they do not fit it. */
  private keep<K>(space: KeptSpace<K>, key: K, length: number): number {
    const ptr = space.put(key, length);
    if (ptr === null) return this.alloc(length);
    this.ensure(ptr + 4 * length + 64);
    return ptr;
  }

  private ensure(end: number): void {
    const missing = end - this.memory.buffer.byteLength;
    if (missing <= 0) return;
    try {
      this.memory.grow(Math.ceil(missing / PAGE));
    } catch (error) {
      // grow throws a RangeError where the pages cannot be committed.
      if (error instanceof RangeError) throw new ArenaFullError(`gemm threads: the arena could not grow to ${end} bytes`, { cause: error });
      throw error;
    }
  }

  /** Views of the whole arena (take them after the last alloc: growing replaces the buffer). */
  floats(): Float32Array {
    return new Float32Array(this.memory.buffer);
  }

  ints(): Int32Array {
    return new Int32Array(this.memory.buffer);
  }

  /**
   * Puts the worker to sleep now instead of after its WORKER_POLL_MS of polling, leaving its core
   * to others (the bench calls it before each block of the peer's steps).
   */
  rest(): void {
    Atomics.store(this.control, REST, this.job);
  }

  /** Which thread ran the worker's part of the last split (tests see both paths). */
  lastRunBy: 'worker' | 'caller' = 'worker';

  /**
   * Runs `name(...workerArgs)` on the worker while `here` runs on this thread; returns when both
   * have. Whichever thread comes to the worker's part first takes it (one atomic exchange): when
   * the worker is descheduled or asleep, as on a machine shared with other work, this thread
   * runs it after its own part instead of waiting. Measured on this 2-core VM at load average
   * ~31 (other jobs on both cores), a WRN-pMoE step (bench case d): 2553-2588 ms waiting,
   * 1006-1171 ms taking, 490 ms on one thread (PMOE_THREADS=1).
   */
  split(name: SplitFunction, workerArgs: number[], here: () => void, on: SharedKernels = this.own): void {
    const control = this.control;
    const job = ++this.job;
    control[FUNCTION] = FUNCTIONS.indexOf(name);
    control[MEMORY] = on.id;
    control.set(workerArgs, ARGS);
    Atomics.store(control, JOB, job);
    Atomics.notify(control, JOB);
    here();
    if (Atomics.compareExchange(control, CLAIMED, job - 1, job) === job - 1) {
      this.lastRunBy = 'caller';
      const args = workerArgs as [number, number, number, number, number, number, number, number, number];
      if (name === 'gemmTChunks') gemmTChunks(on.kernels, ...(args.slice(0, 7) as [number, number, number, number, number, number, number]));
      else if (name === 'winogradForward' || name === 'winogradFilterGradient') on.winograd[name as WinogradFunction](args[0]);
      else if (name in on.batchNorm) on.batchNorm[name as BatchNormFunction](...args);
      else on.kernels[name as Exclude<SplitFunction, 'gemmTChunks' | BatchNormFunction | WinogradFunction>](...args);
      return;
    }
    this.lastRunBy = 'worker';
    const started = Date.now();
    const until = performance.now() + CALLER_POLL_MS;
    while (Atomics.load(control, DONE) !== job && performance.now() < until);
    while (Atomics.load(control, DONE) !== job) {
      Atomics.wait(control, DONE, job - 1, 1000);
      if (Date.now() - started > WAIT_LIMIT_MS) throw new Error(`gemm threads: the worker thread did not finish ${name} in ${WAIT_LIMIT_MS / 1000} s`);
    }
    if (Atomics.exchange(control, FAILED, 0) !== 0) {
      const report = this.receive(this.errors)?.message as string | undefined;
      throw new Error(`gemm threads: ${name} failed on the worker thread: ${report ?? 'no report'}`);
    }
  }
}

/** The parent's Node options less --input-type (which would decide how the worker's eval'd source is read). */
export function workerExecArgv(execArgv: readonly string[]): string[] {
  return execArgv.filter((arg, i) => !arg.startsWith('--input-type') && execArgv[i - 1] !== '--input-type');
}

/** A shared memory of the size the product module imports (1 GiB of address space, committed as it is written). */
export function newSharedMemory(): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
}

let shared: GemmThreads | null | undefined;
let enabled = true;

/** Turns the two-thread products on or off for this process (tests compare both paths). */
export function setGemmThreads(on: boolean): void {
  enabled = on;
}

/** Whether products split across threads here: Node worker threads, shared memory, SIMD, two or more cores, not turned off. */
function threadsWanted(): boolean {
  const os = nodeBuiltin<typeof Os>('node:os');
  if (!os || typeof SharedArrayBuffer !== 'function') return false;
  const setting = process.env.PMOE_THREADS;
  if (setting !== undefined && setting !== '') return threadsSetting(setting) >= 2 && os.availableParallelism() >= 2;
  return os.availableParallelism() >= 2;
}

/** PMOE_THREADS as a number of threads: a positive integer (2 or more: two threads). */
export function threadsSetting(value: string): number {
  const threads = Number(value);
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`PMOE_THREADS must be a positive integer (1: one thread, 2 or more: two threads for pmoe's products); got ${JSON.stringify(value)}`);
  }
  return threads;
}

/** The process's two-thread products, started on first use, or null where they do not apply or failed to start. */
export function gemmThreads(): GemmThreads | null {
  if (!enabled) return null;
  if (shared === undefined) {
    const wanted = threadsWanted(); // a bad PMOE_THREADS is the user's to fix: it throws
    try {
      shared = wanted ? new GemmThreads() : null;
    } catch {
      shared = null;
    }
  }
  return shared;
}
