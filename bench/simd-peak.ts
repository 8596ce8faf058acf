import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { fusedMultiplyAdd } from '../src/kernels/simd-gemm.js';
import { moduleBytes } from '../src/kernels/module-bytes.js';

/**
 * The machine's 128-bit SIMD peak as WebAssembly reaches it (src/kernels/simd-peak.wat: ten
 * chains of f32x4 multiply-adds in registers), on one thread and on two (two worker threads
 * started together). Every case's GFLOP/s is printed as a fraction of it: the distance to what
 * the hardware can do through 128-bit wasm SIMD, whatever a peer reaches.
 */
/** FLOPs of one loop iteration of simd-peak.wat: 10 chains x 4 multiply-adds x 4 lanes x (multiply + add). */
const FLOPS_PER_ITERATION = 10 * 4 * 4 * 2;

export interface SimdPeak {
  /** The instruction timed: relaxed SIMD's fused multiply-add, or a multiply and an add where it is unavailable (PMOE_FMA=0). */
  readonly instruction: string;
  /** GFLOP/s of one thread (best chunk). */
  readonly oneThread: number;
  /** GFLOP/s of two threads together (best round: both threads' FLOPs over the round's wall time). */
  readonly twoThreads: number;
}

type PeakLoop = (iterations: number) => void;

function instantiate(module: WebAssembly.Module): PeakLoop {
  const memory = new WebAssembly.Memory({ initial: 1 });
  new Float32Array(memory.buffer, 0, 4).fill(1e-3);
  const { peak } = new WebAssembly.Instance(module, { env: { memory } }).exports as { peak: (iterations: number, out: number) => void };
  return (iterations) => peak(iterations, 0);
}

/** Iterations of one timed chunk: 16 MFLOP, a few tenths of a millisecond. */
const CHUNK = 50_000;

/** The best GFLOP/s over `chunks` timed calls (after as many untimed ones, so that V8's optimising tier has compiled the loop). */
function bestRate(loop: PeakLoop, chunks: number): number {
  for (let i = 0; i < chunks; i++) loop(CHUNK);
  let best = 0;
  for (let i = 0; i < chunks; i++) {
    const start = performance.now();
    loop(CHUNK);
    best = Math.max(best, (CHUNK * FLOPS_PER_ITERATION) / ((performance.now() - start) * 1e6));
  }
  return best;
}

type ToWorker = { module: WebAssembly.Module } | { run: number; barrier: Int32Array };
type FromWorker = { ready: true } | { start: number; end: number };

/** Worker side: instantiate, warm up, then per request wait at the barrier and time `run` chunks. */
function serveWorker(): void {
  let loop: PeakLoop | null = null;
  parentPort!.on('message', (message: ToWorker) => {
    if ('module' in message) {
      loop = instantiate(message.module);
      bestRate(loop, 20);
      parentPort!.postMessage({ ready: true } satisfies FromWorker);
      return;
    }
    // Both threads start together: each arrives, then waits (briefly spinning) for the other.
    Atomics.add(message.barrier, 0, 1);
    while (Atomics.load(message.barrier, 0) < 2);
    const start = performance.timeOrigin + performance.now();
    for (let i = 0; i < message.run; i++) loop!(CHUNK);
    parentPort!.postMessage({ start, end: performance.timeOrigin + performance.now() } satisfies FromWorker);
  });
}

function nextMessage(worker: Worker): Promise<FromWorker> {
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => reject(error);
    worker.once('error', fail);
    worker.once('message', (message: FromWorker) => {
      worker.off('error', fail);
      resolve(message);
    });
  });
}

/**
 * Measures the peak: `rounds` timings of each figure, the best kept (a peak is what the machine
 * can do; other work on a shared machine only lowers a timing). A round takes ~2 ms here.
 */
export async function measureSimdPeak(rounds = 40): Promise<SimdPeak> {
  const fused = fusedMultiplyAdd();
  const module = new WebAssembly.Module(moduleBytes(fused ? 'simd-peak-fma' : 'simd-peak'));
  const oneThread = bestRate(instantiate(module), rounds);
  const workers = [0, 1].map(() => new Worker(fileURLToPath(import.meta.url)));
  try {
    await Promise.all(
      workers.map((worker) => {
        const ready = nextMessage(worker);
        worker.postMessage({ module } satisfies ToWorker);
        return ready;
      }),
    );
    let twoThreads = 0;
    for (let round = 0; round < rounds; round++) {
      const barrier = new Int32Array(new SharedArrayBuffer(4));
      const chunks = 4;
      const replies = (await Promise.all(
        workers.map((worker) => {
          const reply = nextMessage(worker);
          worker.postMessage({ run: chunks, barrier } satisfies ToWorker);
          return reply;
        }),
      )) as { start: number; end: number }[];
      const wallMs = Math.max(...replies.map((r) => r.end)) - Math.min(...replies.map((r) => r.start));
      twoThreads = Math.max(twoThreads, (2 * chunks * CHUNK * FLOPS_PER_ITERATION) / (wallMs * 1e6));
    }
    return { instruction: fused ? 'f32x4.relaxed_madd' : 'f32x4.mul + f32x4.add', oneThread, twoThreads };
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

if (!isMainThread && parentPort) serveWorker();
