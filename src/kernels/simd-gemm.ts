/**
 * The SIMD matrix products (src/kernels/gemm.wat: gemm, gemmT, spmm, spmmT, gemmSeg, scaleRows, and
 * the two-layer CNN's pooling passes reluSums, reluMask), compiled and bound; simd-arena.ts holds
 * the arena that training's fused steps run them in.
 *
 * Why not a tfjs op: the wasm backend's fast product (XNNPACK) packs its right-hand operand into a
 * new operator whenever that tensor is new (~10-16 ns per element, measured), and the weights and
 * gradients of a training step are new every step; its transposed products fall to a loop 10-30x
 * slower; and every op costs engine overhead. These kernels read their left operand through a table
 * of row addresses, so a mini-batch, the patches an expert selected, or their transpose are used in
 * place: no gather, no transpose, no packing.
 *
 * Products (f32, row-major; pointers are byte addresses in the arena's memory):
 *   gemm:  C[i, j] = sum_p A_i[p] B[p, j], A_i the K values at rows[i]       (C: M x N, B: K x N)
 *   gemmT: C[i, j] = sum_p A_p[i] B[p, j], A_p the M values at rows[p]       (C: M x N, B: K x N)
 * gemm is X W (forward), gemmT is X^T dY (weight gradient). N and M must be multiples of 4: the
 * callers pad their own buffers (zero columns; a row table padded by repeating a row).
 */

import { moduleBytes } from './module-bytes.js';
import { nodeBuiltin } from '../util/node-builtin.js';

/** The product module's bytes: `fused` with relaxed SIMD's multiply-add (fusedMultiplyAdd()), `shared` importing a shared memory. */
export function gemmModuleBytes(fused: boolean, shared = false): Uint8Array<ArrayBuffer> {
  return moduleBytes(`gemm${fused ? '-fma' : ''}${shared ? '-shared' : ''}`);
}

let fused: boolean | undefined;

/**
 * Whether the kernels use relaxed SIMD's f32x4.relaxed_madd: one instruction, and one rounding,
 * where the CPU has FMA (V8 emits vfmadd on x64), in place of a multiply and an add. The
 * products' inner loops are bound by those two instructions, so it nearly halves their time.
 * On by default, for the library and the `pmoe` command alike, so both compute the same floats;
 * `PMOE_FMA=0`, or `initEngine(backend, { relaxedSimd: false })` before the first product, keeps
 * the separate multiply and add. Chosen once per process, at the first product.
 */
export function fusedMultiplyAdd(): boolean {
  if (fused === undefined) fused = fmaAllowed() && relaxedSimdValidates();
  return fused;
}

function fmaAllowed(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.PMOE_FMA !== '0';
}

/**
 * Fixes fusedMultiplyAdd()'s choice before the first product. Turning fused multiply-adds off after
 * the kernels chose them throws: the process's products would no longer be the same floats.
 */
export function chooseFusedMultiplyAdd(wanted: boolean): boolean {
  if (fused === undefined) fused = wanted && fmaAllowed() && relaxedSimdValidates();
  else if (fused && !wanted) {
    throw new Error(
      'relaxedSimd: false comes too late: pmoe already computes with fused multiply-adds in this process; pass it to the first initEngine call, or set PMOE_FMA=0',
    );
  }
  return fused;
}

/**
 * Whether relaxed SIMD validates here, after setting V8's flag for it where the runtime needs one:
 * Node 20's V8 has the instructions behind the process-wide --experimental-wasm-relaxed-simd
 * (later V8s ship them: nothing to set).
 */
export function relaxedSimdValidates(): boolean {
  if (typeof WebAssembly !== 'object') return false;
  const bytes = gemmModuleBytes(true);
  if (WebAssembly.validate(bytes)) return true;
  nodeBuiltin<typeof import('node:v8')>('node:v8')?.setFlagsFromString('--experimental-wasm-relaxed-simd');
  return WebAssembly.validate(bytes);
}

// ---------------------------------------------------------------------------------------------
// The arena: one wasm memory with the kernels bound to it.

type Kernel = (m: number, n: number, k: number, rows: number, b: number, c: number) => void;
type SparseKernel = (count: number, n: number, ids: number, starts: number, b: number, c: number) => void;
type SegmentKernel = (m: number, n: number, segK: number, segs: number, rows: number, stride: number, b: number, crows: number, bias: number) => void;
type ScaleKernel = (m: number, n: number, arows: number, crows: number, scales: number) => void;
type ReluSumsKernel = (groups: number, n: number, cols: number, h: number, out: number) => void;
type ReluMaskKernel = (groups: number, n: number, cols: number, h: number, dp: number, dh: number) => void;
type RelocateKernel = (count: number, from: number, to: number, base: number, marker: number) => void;
type SgdKernel = (count: number, w: number, g: number, rate: number) => void;
export type Kernels = {
  gemm: Kernel;
  gemmT: Kernel;
  spmm: SparseKernel;
  spmmT: SparseKernel;
  gemmSeg: SegmentKernel;
  scaleRows: ScaleKernel;
  reluSums: ReluSumsKernel;
  reluMask: ReluMaskKernel;
  relocate: RelocateKernel;
  sgdStep: SgdKernel;
};

const compiled = new Map<boolean, WebAssembly.Module | null>();

/** The compiled module (`fused`: see fusedMultiplyAdd), or null where WebAssembly SIMD is unavailable. */
export function gemmModule(fused = fusedMultiplyAdd()): WebAssembly.Module | null {
  if (!compiled.has(fused)) {
    let module: WebAssembly.Module | null = null;
    try {
      const bytes = gemmModuleBytes(fused);
      if (typeof WebAssembly === 'object' && WebAssembly.validate(bytes)) module = new WebAssembly.Module(bytes);
    } catch {
      // no WebAssembly here
    }
    compiled.set(fused, module);
  }
  return compiled.get(fused)!;
}

/** The kernels bound to an existing memory (another module's heap), or null where SIMD or the binding is unavailable. */
export function bindGemm(memory: WebAssembly.Memory): Kernels | null {
  const module = gemmModule();
  if (module === null) return null;
  try {
    return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Kernels;
  } catch {
    return null; // e.g. a shared (threaded) memory: the module imports a plain one
  }
}

/** Whether this runtime runs the SIMD kernels (WebAssembly with SIMD). */
export function simdAvailable(): boolean {
  return gemmModule() !== null;
}

/** Rounds up to a multiple of 4: the kernels' unit of rows and columns. */
export function pad4(value: number): number {
  return Math.ceil(value / 4) * 4;
}
