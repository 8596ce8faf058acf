import { performance } from 'node:perf_hooks';
import { initEngine, tf } from '../src/engine/backend.js';
import { agreementCheck, allFinite, type Check } from './agreement.js';
import { ceilingWorkload } from './ceiling.js';
import { denseConvCase, patchMoeLayerCase } from './layer-case.js';
import { wrnPmoeCase } from './wrn-case.js';
import { wrnEpochCase } from './epoch-case.js';
import { measureSimdPeak, type SimdPeak } from './simd-peak.js';
import { describeMachine, type MachineInfo } from './machine.js';
import { startContentionMeter } from './contention.js';
import { cnnCase, jointPmoeCase, separatePmoeCase, TORCH_CNN_FORMULATION } from './model-cases.js';
import { gflops, quantile, summarise, type TimeSummary } from './stats.js';
import { DEFAULT_PYTHON, INSTALL_HINT, TorchPeer, type PeerInfo, type TorchDevice } from './torch-peer.js';
import { decodeTensor, type WireTensor } from './wire.js';
import type { Workload } from './workload.js';
import { gemmThreads } from '../src/kernels/gemm-threads.js';
import { defaultStepPath, type StepPath } from '../src/training/train.js';

export const CASE_IDS = ['a', 'b', 'c', 'd', 'e', 'f'] as const;
export type CaseId = (typeof CASE_IDS)[number];

export interface BenchOptions {
  /** Timed steps per block (one block per side per round). */
  readonly steps: number;
  readonly rounds: number;
  /** Untimed steps per side before the first round. */
  readonly warmup: number;
  /** Recorded in the result; the checks (agreement, finiteness, leaks) run in every mode. */
  readonly smoke: boolean;
  readonly cases: readonly CaseId[];
  /** Interpreter for the PyTorch peer; null runs pmoe alone. */
  readonly python: string | null;
  /** PyTorch's intra-op threads (default 2). */
  readonly torchThreads?: number;
  /** PyTorch's device (default cpu; cuda beside pmoe on webgpu). */
  readonly torchDevice?: TorchDevice;
  /** Progress lines (stderr in the CLI). */
  readonly log?: (line: string) => void;
  /** How pmoe computes the model steps a-c: `fused` (what training runs, the default) or `autodiff` (the reference). */
  readonly path?: StepPath;
  /** pmoe's backend: wasm (default) or webgpu (a GPU through Dawn; steps a-c then run autodiff, as training does there). */
  readonly backend?: 'wasm' | 'webgpu';
}

/**
 * Ten warm-up steps: the JIT compiles the kernels' JavaScript loops (routing, tables, placement)
 * over the first few steps; with three, case e's first blocks ran up to 2x slower (p90 23.7 ms
 * against a 14.7 ms median) and its ratio to the dense layer read 0.345 against 0.327 with 15.
 */
export const FULL_DEFAULTS = { steps: 20, rounds: 5, warmup: 10 } as const;
export const SMOKE_DEFAULTS = { steps: 2, rounds: 1, warmup: 1 } as const;

/** Rounds of the SIMD peak measurement (simd-peak.ts): ~2 ms each, the best kept. */
const PEAK_ROUNDS = { full: 40, smoke: 5 } as const;

export interface SideResult extends TimeSummary {
  readonly gflops: number;
  /** gflops / the two-thread 128-bit SIMD peak measured in the same run (BenchResult.peak). */
  readonly peakFraction: number;
}

export interface WorkloadResult {
  readonly title: string;
  /** Analytic FLOPs of one step (flops.ts): every GFLOP/s is of these, the direct algorithm's. */
  readonly flopsPerStep: number;
  /** The FLOPs pmoe's kernels do per step where fewer (d, f: Winograd's convolutions), else absent. */
  readonly performedFlopsPerStep?: number;
  readonly pmoe: SideResult;
  /** null when there is no PyTorch peer (or it failed on this workload: see checks). */
  readonly torch: SideResult | null;
  /** pmoe median / PyTorch median; above 1 means pmoe is slower. */
  readonly ratio: number | null;
}

export interface LayerCaseResult extends WorkloadResult {
  readonly dense: WorkloadResult;
  /** PatchMoE FLOPs / dense FLOPs. */
  readonly flopRatio: number;
  /**
   * PatchMoE time / dense time. pmoe: the median over rounds of the ratio of two adjacent blocks,
   * one of each (this VM's speed drifts by up to 1.8x over minutes, so the two cases' own
   * medians, measured minutes apart, move their ratio by as much); pmoeSeparate: the ratio of
   * the cases' own medians; torch: the same for PyTorch.
   */
  readonly timeRatio: { readonly pmoe: number; readonly pmoeSeparate: number; readonly torch: number | null };
}

export interface BenchResult {
  /**
   * otherCores: CPU other processes (and other VMs) took during the run, in cores on average
   * (contention.ts); null where /proc/stat is not readable.
   */
  readonly machine: MachineInfo & { readonly otherCores: number | null };
  readonly settings: { steps: number; rounds: number; warmup: number; smoke: boolean; path: StepPath };
  readonly torch: ({ available: true } & PeerInfo & { cnnFormulation: string }) | { available: false; note: string };
  /** The machine's 128-bit SIMD multiply-add peak through wasm, one and two threads (GFLOP/s); every peakFraction is of twoThreads. */
  readonly peak: SimdPeak;
  readonly ceiling: { title: string; flopsPerStep: number; pmoe: SideResult; torch: SideResult | null };
  readonly cases: {
    a?: WorkloadResult;
    b?: WorkloadResult;
    c?: WorkloadResult;
    d?: WorkloadResult;
    e?: LayerCaseResult;
    f?: WorkloadResult;
  };
  /** What a reader must know to read the ratios (the peer's weak matrix products). */
  readonly notes: string[];
  readonly checks: Check[];
  /** Every check passed. */
  readonly ok: boolean;
}

function side(times: number[], flops: number, peak: SimdPeak): SideResult {
  const summary = summarise(times);
  const rate = gflops(flops, summary.medianMs);
  return { ...summary, gflops: rate, peakFraction: rate / peak.twoThreads };
}

/** Per-step times of `count` steps; a step's promise (an epoch) is awaited, a synchronous step is not. */
async function timeBlock(step: () => void | Promise<void>, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    const pending = step();
    if (pending) await pending;
    times.push(performance.now() - start);
  }
  return times;
}

/** pmoe and PyTorch give the same output (and loss and gradients, for models) from the same weights and input. */
async function checkAgreement(workload: Workload, peer: TorchPeer, checks: Check[]): Promise<void> {
  const torchForward = await peer.request({ cmd: 'forward' });
  checks.push(agreementCheck(workload.id, 'forward output', workload.output(), decodeTensor(torchForward.output as WireTensor)));
  if (!workload.training || !workload.loss || !workload.grads) return;
  checks.push(agreementCheck(workload.id, 'loss', [workload.loss()], [Number(torchForward.loss)]));
  const torchGrads = await peer.request({ cmd: 'grads' });
  const grads = workload.grads();
  const reference = Object.fromEntries(Object.entries(torchGrads.grads as Record<string, WireTensor>).map(([name, wire]) => [name, decodeTensor(wire)]));
  // A gradient that is zero in exact arithmetic (a conv bias right before batch norm, case d) is
  // rounding noise on both sides: both must be that small next to the model's largest gradient.
  const largest = Math.max(0, ...Object.values(reference).map(maxAbs));
  for (const name of new Set([...Object.keys(grads), ...Object.keys(reference)])) {
    if (!grads[name] || !reference[name]) {
      checks.push({ case: workload.id, what: `gradient of ${name}`, ok: false, note: 'trained on one side only' });
    } else if (maxAbs(reference[name]) <= ZERO_GRADIENT * largest) {
      const value = maxAbs(grads[name]) / largest;
      checks.push({ case: workload.id, what: `gradient of ${name} (zero up to rounding)`, value, tolerance: ZERO_GRADIENT, ok: value <= ZERO_GRADIENT });
    } else {
      checks.push(agreementCheck(workload.id, `gradient of ${name}`, grads[name], reference[name]));
    }
  }
}

/** Below this fraction of the largest gradient, a reference gradient counts as zero. */
const ZERO_GRADIENT = 1e-5;

function maxAbs(values: ArrayLike<number>): number {
  let largest = 0;
  for (let i = 0; i < values.length; i++) largest = Math.max(largest, Math.abs(values[i]));
  return largest;
}

/**
 * Times one workload on both sides, alternating: per round, a block of pmoe steps, then a block
 * of PyTorch steps. The agreement checks run first, on the identical starting weights.
 */
async function measure(workload: Workload, peer: TorchPeer | null, options: BenchOptions, peak: SimdPeak, checks: Check[]): Promise<WorkloadResult> {
  const log = options.log ?? (() => undefined);
  const steps = workload.stepsPerBlock ?? options.steps;
  const warmup = Math.min(options.warmup, steps);
  let torch: TorchPeer | null = null;
  if (peer && workload.torch) {
    try {
      await peer.request({ cmd: 'setup', ...workload.torch });
      torch = peer;
      if (workload.id !== 'ceiling') await checkAgreement(workload, peer, checks);
    } catch (error) {
      checks.push({ case: workload.id, what: 'PyTorch side', ok: false, note: error instanceof Error ? error.message : String(error) });
      torch = null;
    }
  }
  const pmoeTimes: number[] = [];
  const torchTimes: number[] = [];
  let torchLoss = Number.NaN;
  /** A block of PyTorch steps; on failure, record it and go on without the peer for this workload. */
  const torchBlock = async (n: number): Promise<number[]> => {
    if (!torch) return [];
    gemmThreads()?.rest(); // pmoe's worker thread would poll for a few ms, on a core the peer's threads use
    try {
      const reply = await torch.request({ cmd: 'steps', n });
      if (typeof reply.loss === 'number') torchLoss = reply.loss;
      return reply.timesMs as number[];
    } catch (error) {
      checks.push({ case: workload.id, what: 'PyTorch side', ok: false, note: error instanceof Error ? error.message : String(error) });
      torch = null;
      return [];
    }
  };
  await timeBlock(() => workload.step(), warmup);
  await torchBlock(warmup);
  for (let round = 0; round < options.rounds; round++) {
    log(`  ${workload.id}: round ${round + 1}/${options.rounds}`);
    const before = tf.memory().numTensors;
    pmoeTimes.push(...(await timeBlock(() => workload.step(), steps)));
    const leaked = tf.memory().numTensors - before;
    if (leaked !== 0 || round === 0) {
      checks.push({ case: workload.id, what: 'no tensors leaked by a block of steps', value: leaked, ok: leaked === 0 });
    }
    torchTimes.push(...(await torchBlock(steps)));
  }
  if (workload.training && workload.loss) {
    const loss = workload.loss();
    checks.push({ case: workload.id, what: 'pmoe loss finite after the steps', value: loss, ok: Number.isFinite(loss) });
    if (torch) checks.push({ case: workload.id, what: 'PyTorch loss finite after the steps', value: torchLoss, ok: Number.isFinite(torchLoss) });
  } else if (workload.id !== 'ceiling') {
    checks.push({ case: workload.id, what: 'pmoe output finite', ok: allFinite(workload.output()) });
  }
  const pmoe = side(pmoeTimes, workload.flops, peak);
  const torchSide = torch && torchTimes.length > 0 ? side(torchTimes, workload.flops, peak) : null;
  return {
    title: workload.title,
    flopsPerStep: workload.flops,
    ...(workload.performedFlops !== undefined && workload.performedFlops < workload.flops ? { performedFlopsPerStep: workload.performedFlops } : {}),
    pmoe,
    torch: torchSide,
    ratio: torchSide ? pmoe.medianMs / torchSide.medianMs : null,
  };
}

/** The median over rounds of median(a's block) / median(b's block), the two blocks run one after the other. */
async function adjacentRatio(a: Workload, b: Workload, options: BenchOptions): Promise<number> {
  const ratios: number[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const aTime = summarise(await timeBlock(() => a.step(), options.steps)).medianMs;
    ratios.push(aTime / summarise(await timeBlock(() => b.step(), options.steps)).medianMs);
  }
  return quantile(
    [...ratios].sort((x, y) => x - y),
    0.5,
  );
}

/** Debian's PyTorch: products through a plain-loop BLAS, convolutions through oneDNN. */
/** The peak is measured on the CPU: a GPU side's fraction of it says nothing about the GPU. */
export const GPU_PEAK_NOTE =
  "'of peak' is this machine's CPU SIMD peak: for work on a GPU (pmoe on webgpu, PyTorch on CUDA) it only compares with CPU runs, not with the GPU's own ceiling.";

function weakPeerNote(ceiling: SideResult | null): string {
  const rate = ceiling ? ` (${ceiling.gflops.toFixed(1)} GFLOP/s on the ceiling product in this run)` : '';
  return (
    `This PyTorch was built with a generic BLAS (BLAS_INFO=generic): its matrix products are plain loops${rate}, ` +
    "so b, c and e (matrix products on its side) compare against a weak peer; its convolutions (a, d, f, and e's dense layer) " +
    "go through oneDNN, which uses the CPU's widest vectors (AVX-512 where present): a strong peer."
  );
}

async function withWorkload<T>(make: () => Workload | Promise<Workload>, use: (workload: Workload) => Promise<T>): Promise<T> {
  const workload = await make();
  try {
    return await use(workload);
  } finally {
    workload.dispose();
  }
}

/** Runs the benchmark (or its smoke mode) and returns every figure; printing is the caller's. */
export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const log = options.log ?? (() => undefined);
  await initEngine(options.backend ?? 'wasm');
  const machine = describeMachine();
  const checks: Check[] = [];
  let peer: TorchPeer | null = null;
  let torchInfo: BenchResult['torch'];
  if (options.python === null) {
    torchInfo = { available: false, note: 'PyTorch peer not requested: pmoe figures only.' };
  } else {
    const started = await TorchPeer.start(options.python ?? DEFAULT_PYTHON, options.torchThreads, options.torchDevice);
    if ('peer' in started) {
      peer = started.peer;
      torchInfo = { available: true, ...started.info, cnnFormulation: TORCH_CNN_FORMULATION };
    } else {
      torchInfo = { available: false, note: `PyTorch peer unavailable (${started.reason}). ${INSTALL_HINT} pmoe figures only.` };
      log(torchInfo.note);
    }
  }
  /** The peer's CPU seconds, or NaN when it cannot say (the contention figure is then null). */
  const peerCpu = async () => (peer ? peer.cpuSeconds().catch(() => Number.NaN) : 0);
  const peerCpu0 = await peerCpu();
  const meter = startContentionMeter();
  try {
    log('peak: 128-bit SIMD multiply-adds, one and two threads');
    const peak = await measureSimdPeak(options.smoke ? PEAK_ROUNDS.smoke : PEAK_ROUNDS.full);
    const measureLogged = (workload: Workload) => {
      log(`${workload.id}: ${workload.title}`);
      return measure(workload, peer, options, peak, checks);
    };
    const run = (make: () => Workload | Promise<Workload>) => withWorkload(make, measureLogged);
    const ceilingResult = await run(ceilingWorkload);
    const ceiling = { title: ceilingResult.title, flopsPerStep: ceilingResult.flopsPerStep, pmoe: ceilingResult.pmoe, torch: ceilingResult.torch };
    const cases: BenchResult['cases'] = {};
    const wanted = new Set(options.cases);
    const path = options.path ?? defaultStepPath();
    if (wanted.has('a')) cases.a = await run(() => cnnCase(path));
    if (wanted.has('b')) cases.b = await run(() => separatePmoeCase(path));
    if (wanted.has('c')) cases.c = await run(() => jointPmoeCase(path));
    if (wanted.has('d')) cases.d = await run(() => wrnPmoeCase(path));
    if (wanted.has('e')) {
      cases.e = await withWorkload(patchMoeLayerCase, (moeWorkload) =>
        withWorkload(denseConvCase, async (denseWorkload) => {
          const moe = await measureLogged(moeWorkload);
          const dense = await measureLogged(denseWorkload);
          log('  e: PatchMoE and dense blocks, adjacent');
          return {
            ...moe,
            dense,
            flopRatio: moe.flopsPerStep / dense.flopsPerStep,
            timeRatio: {
              pmoe: await adjacentRatio(moeWorkload, denseWorkload, options),
              pmoeSeparate: moe.pmoe.medianMs / dense.pmoe.medianMs,
              torch: moe.torch && dense.torch ? moe.torch.medianMs / dense.torch.medianMs : null,
            },
          };
        }),
      );
    }
    if (wanted.has('f')) cases.f = await run(() => wrnEpochCase(options.smoke, path));
    const notes = torchInfo.available && torchInfo.blas === 'generic' ? [weakPeerNote(ceiling.torch)] : [];
    if (tf.getBackend() !== 'wasm' || (torchInfo.available && torchInfo.device !== 'cpu')) notes.push(GPU_PEAK_NOTE);
    return {
      machine: { ...machine, otherCores: meter.otherCores((await peerCpu()) - peerCpu0) },
      settings: { steps: options.steps, rounds: options.rounds, warmup: options.warmup, smoke: options.smoke, path: options.path ?? defaultStepPath() },
      torch: torchInfo,
      peak,
      ceiling,
      cases,
      notes,
      checks,
      ok: checks.every((check) => check.ok),
    };
  } finally {
    await peer?.close();
  }
}
