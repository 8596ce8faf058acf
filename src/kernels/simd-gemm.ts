/**
 * The SIMD matrix products (src/kernels/gemm.wat: gemm, gemmT, spmm, spmmT, gemmSeg, scaleRows, and
 * the two-layer CNN's pooling passes reluSums, reluMask) and the arena that training's fused steps
 * run them in.
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

/** The product module's bytes: `fused` with relaxed SIMD's multiply-add (fusedMultiplyAdd()), `shared` importing a shared memory. */
export function gemmModuleBytes(fused: boolean, shared = false): Uint8Array<ArrayBuffer> {
  return moduleBytes(`gemm${fused ? '-fma' : ''}${shared ? '-shared' : ''}`);
}

let fused: boolean | undefined;

/**
 * Whether the kernels use relaxed SIMD's f32x4.relaxed_madd: one instruction, and one rounding,
 * where the CPU has FMA (V8 emits vfmadd on x64), in place of a multiply and an add. The
 * products' inner loops are bound by those two instructions, so it nearly halves their time.
 * Node 20's V8 has relaxed SIMD behind a flag, which only enableRelaxedSimd (relaxed-simd.ts) sets,
 * when the user opts in; later V8s ship it. `PMOE_FMA=0` keeps the separate multiply and add.
 */
export function fusedMultiplyAdd(): boolean {
  if (fused === undefined) {
    const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
    fused = env?.PMOE_FMA !== '0' && relaxedSimdValidates();
  }
  return fused;
}

function relaxedSimdValidates(): boolean {
  if (typeof WebAssembly !== 'object') return false;
  return WebAssembly.validate(gemmModuleBytes(true));
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
};

const compiled = new Map<boolean, WebAssembly.Module | null>();

/** The compiled module (`fused`: see fusedMultiplyAdd), or null where WebAssembly SIMD is unavailable. */
function gemmModule(fused = fusedMultiplyAdd()): WebAssembly.Module | null {
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

const PAGE = 65536;
/** Bytes past every region: gemmT reads up to 3 floats past the end of a row. */
const SLACK = 64;

/** A float32 or int32 region of the arena: byte address and length in elements. */
export interface Region {
  readonly ptr: number;
  readonly length: number;
}

/** A [rows, cols] matrix stored by its nonzeros: row r's (column, value) pairs at starts[r] .. starts[r + 1]. */
export interface SparseRows {
  readonly rows: number;
  readonly cols: number;
  readonly starts: Region;
  readonly pairs: Region;
}

/** How many of the values are not 0. */
export function countNonzeros(values: Float32Array): number {
  let nonzeros = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) nonzeros++;
  return nonzeros;
}

/**
 * Memories of disposed arenas, taken again by the next arenas of this thread. Why: the first write
 * to a fresh page is slow on the virtual machines this project runs on (~2.6 ms per MB measured:
 * 0.13 s for a 50 MB buffer, 1.7 ms for writing it again), and a sweep worker builds a new arena of
 * tens of MB for every run. At most MAX_SPARE are kept, each at most MAX_SPARE_BYTES.
 */
const spareMemories: WebAssembly.Memory[] = [];
const MAX_SPARE = 2;
const MAX_SPARE_BYTES = 512 * 2 ** 20;

/**
 * A wasm memory that regions are carved from (never freed: an arena lives as long as one
 * training run; dispose() hands its memory to the next arena) and the kernels over it (gemm,
 * gemmT, spmm, spmmT, reluSums, reluMask). Views returned by floats()/ints()/doubles() stay valid
 * until the next alloc(), which may grow (and so detach) the memory: allocate first, then view.
 */
export class SimdArena {
  private readonly memory: WebAssembly.Memory;
  private readonly kernels: Kernels;
  private top = SLACK;
  /** Whether the memory held an earlier arena's data (so alloc() zeroes what it hands out). */
  private readonly reused: boolean;
  private disposed = false;

  /** `fused`: the kernels with fused multiply-adds (the default where fusedMultiplyAdd() says so) or separate ones. */
  constructor(fused = fusedMultiplyAdd()) {
    const module = gemmModule(fused);
    if (module === null) throw new Error('WebAssembly SIMD is not available in this runtime');
    const spare = spareMemories.pop();
    this.reused = spare !== undefined;
    this.memory = spare ?? new WebAssembly.Memory({ initial: 16 });
    this.kernels = new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports as unknown as Kernels;
  }

  /** A zeroed region of `length` 4-byte elements, 64-byte aligned. */
  alloc(length: number): Region {
    if (this.disposed) throw new Error('SimdArena: alloc after dispose');
    const ptr = this.top;
    this.top += Math.ceil((length * 4 + SLACK) / 64) * 64;
    const missing = this.top - this.memory.buffer.byteLength;
    if (missing > 0) this.memory.grow(Math.ceil(missing / PAGE));
    if (this.reused) new Uint8Array(this.memory.buffer, ptr, this.top - ptr).fill(0);
    return { ptr, length };
  }

  /**
   * Hands the memory to the next arena of this thread; this arena and its regions' views must not
   * be used afterwards. Optional: an arena that is never disposed is collected as garbage.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (spareMemories.length < MAX_SPARE && this.memory.buffer.byteLength <= MAX_SPARE_BYTES) spareMemories.push(this.memory);
  }

  floats(region: Region): Float32Array {
    return new Float32Array(this.memory.buffer, region.ptr, region.length);
  }

  ints(region: Region): Int32Array {
    return new Int32Array(this.memory.buffer, region.ptr, region.length);
  }

  /** A region as float64s (two of its 4-byte elements each). */
  doubles(region: Region): Float64Array {
    return new Float64Array(this.memory.buffer, region.ptr, region.length >> 1);
  }

  /** C [m, n] = A B, A's row i the k floats at byte address rows[i], B [k, n]; m and n multiples of 4. */
  gemm(m: number, n: number, k: number, rows: Region, b: Region, c: Region): void {
    this.check(m, n, rows.length >= m && b.length >= k * n && c.length >= m * n);
    this.kernels.gemm(m, n, k, rows.ptr, b.ptr, c.ptr);
  }

  /** C [m, n] = A^T B, A's row p the m floats at byte address rows[p] (p < k), B [k, n]; m and n multiples of 4. */
  gemmT(m: number, n: number, k: number, rows: Region, b: Region, c: Region): void {
    this.check(m, n, rows.length >= k && b.length >= k * n && c.length >= m * n);
    this.kernels.gemmT(m, n, k, rows.ptr, b.ptr, c.ptr);
  }

  /** The nonzeros of a dense row-major [rows, cols] matrix (`nonzeros` of them, counted here when not given), as SparseRows in this arena. */
  sparse(values: Float32Array, rows: number, cols: number, nonzeros = countNonzeros(values.subarray(0, rows * cols))): SparseRows {
    const starts = this.alloc(rows + 1);
    const pairs = this.alloc(2 * nonzeros);
    const startView = this.ints(starts);
    const columns = this.ints(pairs);
    const floats = this.floats(pairs);
    let at = 0;
    for (let r = 0; r < rows; r++) {
      startView[r] = pairs.ptr + 8 * at;
      for (let c = 0; c < cols; c++) {
        const value = values[r * cols + c];
        if (value === 0) continue;
        columns[2 * at] = c;
        floats[2 * at + 1] = value;
        at++;
      }
    }
    startView[rows] = pairs.ptr + 8 * at;
    return { rows, cols, starts, pairs };
  }

  /** C [m, n] = A B for A's rows ids[0..m) of a sparse matrix, B [a.cols, n]; m and n multiples of 4. */
  spmm(m: number, n: number, ids: Region, a: SparseRows, b: Region, c: Region): void {
    this.check(m, n, ids.length >= m && b.length >= a.cols * n && c.length >= m * n);
    this.kernels.spmm(m, n, ids.ptr, a.starts.ptr, b.ptr, c.ptr);
  }

  /** C [a.cols, n] = A^T B for A's rows ids[0..k) of a sparse matrix, B [k, n]; n a multiple of 4. */
  spmmT(k: number, n: number, ids: Region, a: SparseRows, b: Region, c: Region): void {
    this.check(0, n, ids.length >= k && b.length >= k * n && c.length >= a.cols * n);
    this.floats(c).fill(0, 0, a.cols * n);
    this.kernels.spmmT(k, n, ids.ptr, a.starts.ptr, b.ptr, c.ptr);
  }

  /** out [groups, n] (float64, a region of 2 groups n elements) = sum over each group's `patches` rows of max(H, 0), H [groups patches, n]; n a multiple of 4. */
  reluSums(groups: number, patches: number, n: number, h: Region, out: Region): void {
    this.check(0, n, h.length >= groups * patches * n && out.length >= 2 * groups * n);
    this.kernels.reluSums(groups, patches, n, h.ptr, out.ptr);
  }

  /** dH [groups patches, n] = H > 0 ? dP[group] : 0, dP [groups, n]; n a multiple of 4. */
  reluMask(groups: number, patches: number, n: number, h: Region, dp: Region, dh: Region): void {
    this.check(0, n, h.length >= groups * patches * n && dp.length >= groups * n && dh.length >= groups * patches * n);
    this.kernels.reluMask(groups, patches, n, h.ptr, dp.ptr, dh.ptr);
  }

  private check(m: number, n: number, fits: boolean): void {
    if (m % 4 !== 0 || n % 4 !== 0 || !fits) throw new RangeError(`simd gemm: bad shape m=${m} n=${n} for its regions`);
  }
}
