import { gemmTChunks, gemmThreads, newSharedMemory, type GemmThreads, type SharedKernels, type SplitFunction } from './gemm-threads.js';
import { bindBatchNorm, type BatchNormKernels } from './simd-batch-norm.js';
import { fusedMultiplyAdd, gemmModule, type Kernels } from './simd-gemm.js';
import { addChunks, chunkRows } from './workspace.js';

/**
 * The arena that training's fused steps run the SIMD products in (simd-gemm.ts): one wasm memory
 * holding the data sets, weights and scratch of a run, with the kernels bound to it.
 */

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
const spareMemories = { plain: [] as WebAssembly.Memory[], shared: [] as WebAssembly.Memory[] };
const MAX_SPARE = 2;
const MAX_SPARE_BYTES = 512 * 2 ** 20;

/**
 * Products of at least this many multiply-adds split across two threads when the arena has them:
 * ~40 us on one thread here, against a few microseconds per split while the worker polls and up
 * to a wake-up when it sleeps. The bench's separate-pMoE step (case b: 0.63 M multiply-adds per
 * expert product) ran slower split at 2^19.
 */
const SPLIT_MULTIPLY_ADDS = 2 ** 20;
/** Batch-norm passes over at least this many floats split across two threads (a pass over 2^16 floats took ~30 us). */
const SPLIT_FLOATS = 2 ** 16;
/** Data a two-thread arena holds at most: its shared memory cannot grow past 1 GiB. */
const TWO_THREAD_MAX_BYTES = 768 * 2 ** 20;

/** Floats of scratch that gemmTChunked needs for a product over k rows. */
export function chunkedPartials(m: number, n: number, k: number): number {
  return Math.ceil(k / chunkRows(k)) * m * n;
}

/** The process's two-thread products for an arena that will hold about `bytes` of data: null where they are off or the data are too large for a shared memory. */
export function arenaThreads(bytes: number): GemmThreads | null {
  return bytes <= TWO_THREAD_MAX_BYTES ? gemmThreads() : null;
}

/**
 * A wasm memory that regions are carved from (never freed: an arena lives as long as one
 * training run; dispose() hands its memory to the next arena) and the kernels over it (gemm,
 * gemmT, spmm, spmmT, reluSums, reluMask). Views returned by floats()/ints()/doubles() stay valid
 * until the next alloc(), which may grow (and so detach) the memory: allocate first, then view.
 *
 * Given the two-thread products (gemm-threads.ts), the memory is a shared one that the worker
 * thread binds the kernels to as well, and gemm, gemmT and spmm of at least SPLIT_MULTIPLY_ADDS
 * split by output rows, half on each thread: every output element is summed by one thread in the
 * same order, so the results are the same to the bit as on one thread. spmmT does not split: its
 * only such split is by columns, which the kernel does not take.
 */
export class SimdArena {
  private readonly memory: WebAssembly.Memory;
  private readonly kernels: Kernels;
  /** The worker thread and this memory's binding on it, where products split. */
  private readonly threads: GemmThreads | null;
  private readonly shared: SharedKernels | null;
  /** A row table shifted to the second half of gemmT's output rows (the worker's part). */
  private shiftedRows: Region | null = null;
  private batchNormKernels: BatchNormKernels | null | undefined;
  private top = SLACK;
  /** Whether the memory held an earlier arena's data (so alloc() zeroes what it hands out). */
  private readonly reused: boolean;
  private disposed = false;

  /**
   * `fused`: the kernels with fused multiply-adds (the default where fusedMultiplyAdd() says so) or
   * separate ones; `threads`: the two-thread products to split across (none by default; see
   * arenaThreads()), used only with the default `fused`, which is what the worker runs.
   */
  constructor(fused = fusedMultiplyAdd(), threads: GemmThreads | null = null) {
    this.threads = fused === fusedMultiplyAdd() ? threads : null;
    const module = this.threads ? this.threads.module : gemmModule(fused);
    if (module === null) throw new Error('WebAssembly SIMD is not available in this runtime');
    const spares = this.threads ? spareMemories.shared : spareMemories.plain;
    const spare = spares.pop();
    this.reused = spare !== undefined;
    this.memory = spare ?? (this.threads ? newSharedMemory() : new WebAssembly.Memory({ initial: 16 }));
    this.shared = this.threads ? this.threads.attach(this.memory) : null;
    this.kernels = this.shared ? this.shared.kernels : (new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports as unknown as Kernels);
  }

  /** Whether products of this arena split across two threads. */
  get twoThreads(): boolean {
    return this.shared !== null;
  }

  /** A zeroed region of `length` 4-byte elements, 64-byte aligned. */
  alloc(length: number): Region {
    if (this.disposed) throw new Error('SimdArena: alloc after dispose');
    const ptr = this.top;
    this.top += Math.ceil((length * 4 + SLACK) / 64) * 64;
    const missing = this.top - this.memory.buffer.byteLength;
    if (missing > 0) {
      try {
        this.memory.grow(Math.ceil(missing / PAGE));
      } catch (error) {
        if (this.shared && error instanceof RangeError) {
          throw new RangeError(`SimdArena: ${this.top} bytes exceed the two-thread arena's 1 GiB; PMOE_THREADS=1 runs on one thread without that limit`, {
            cause: error,
          });
        }
        throw error;
      }
    }
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
    const spares = this.threads ? spareMemories.shared : spareMemories.plain;
    if (spares.length < MAX_SPARE && this.memory.buffer.byteLength <= MAX_SPARE_BYTES) spares.push(this.memory);
    else this.threads?.detach(this.memory);
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
    const here = this.rowsHere(m, m * n * k);
    if (here === m) return this.kernels.gemm(m, n, k, rows.ptr, b.ptr, c.ptr);
    this.split('gemm', [m - here, n, k, rows.ptr + 4 * here, b.ptr, c.ptr + 4 * here * n], () => this.kernels.gemm(here, n, k, rows.ptr, b.ptr, c.ptr));
  }

  /** C [m, n] = A^T B, A's row p the m floats at byte address rows[p] (p < k), B [k, n]; m and n multiples of 4. */
  gemmT(m: number, n: number, k: number, rows: Region, b: Region, c: Region): void {
    this.check(m, n, rows.length >= k && b.length >= k * n && c.length >= m * n);
    const here = this.rowsHere(m, m * n * k);
    if (here === m) return this.kernels.gemmT(m, n, k, rows.ptr, b.ptr, c.ptr);
    // The worker's output rows are A's columns from `here` on: the same rows, read `here` floats in.
    if (this.shiftedRows === null || this.shiftedRows.length < k) this.shiftedRows = this.alloc(k);
    const shifted = this.shiftedRows;
    const [table, worker] = [this.ints(rows), this.ints(shifted)];
    for (let p = 0; p < k; p++) worker[p] = table[p] + 4 * here;
    this.split('gemmT', [m - here, n, k, shifted.ptr, b.ptr, c.ptr + 4 * here * n], () => this.kernels.gemmT(here, n, k, rows.ptr, b.ptr, c.ptr));
  }

  /**
   * gemmSeg (gemm.wat: row i of A is `segs` segments of segK floats, segment s at the address
   * rows[s stride + i]; row i of C written at crows[i]; plus bias [n]), on byte addresses of this
   * arena: the convolutions of the fused image trainer. m and n multiples of 4. Split by output
   * rows on two threads from SPLIT_MULTIPLY_ADDS (each row summed by one thread: the same floats).
   */
  gemmSeg(m: number, n: number, segK: number, segs: number, rows: number, stride: number, b: number, crows: number, bias: number): void {
    if (m % 4 !== 0 || n % 4 !== 0 || stride < m) throw new RangeError(`simd gemm: bad gemmSeg m=${m} n=${n} stride=${stride}`);
    const here = this.rowsHere(m, m * n * segK * segs);
    if (here === m) return this.kernels.gemmSeg(m, n, segK, segs, rows, stride, b, crows, bias);
    this.split('gemmSeg', [m - here, n, segK, segs, rows + 4 * here, stride, b, crows + 4 * here, bias], () =>
      this.kernels.gemmSeg(here, n, segK, segs, rows, stride, b, crows, bias),
    );
  }

  /**
   * C [m, n] = A^T B as gemmT (A_p the m floats at the byte address rows[p], p < k; B [k, n] at
   * byte address b; C at byte address c), summed in float32 chunks of chunkRows(k) rows that are
   * added in float64, as the wasm backend's convolution gradients are; chunks split across the two
   * threads. `partials`: scratch of at least chunkedPartials(m, n, k) floats.
   */
  gemmTChunked(m: number, n: number, k: number, rows: number, b: number, c: number, partials: Region): void {
    const chunk = chunkRows(k);
    const chunks = Math.ceil(k / chunk);
    if (m % 4 !== 0 || n % 4 !== 0 || partials.length < chunks * m * n)
      throw new RangeError(`simd gemm: bad gemmTChunked m=${m} n=${n} k=${k} for its partials`);
    if (chunks < 2 || this.shared === null || m * n * k < SPLIT_MULTIPLY_ADDS) {
      gemmTChunks(this.kernels, m, n, k, rows, b, partials.ptr, chunk);
    } else {
      const hereRows = Math.ceil(chunks / 2) * chunk;
      const workerPartials = partials.ptr + Math.ceil(chunks / 2) * m * n * 4;
      this.split('gemmTChunks', [m, n, k - hereRows, rows + 4 * hereRows, b + hereRows * n * 4, workerPartials, chunk], () =>
        gemmTChunks(this.kernels, m, n, hereRows, rows, b, partials.ptr, chunk),
      );
    }
    addChunks(new Float32Array(this.memory.buffer), partials.ptr, chunks, m * n, c);
  }

  /** scaleRows (gemm.wat): row i at crows[i] = scales[i] times the n floats at arows[i]; byte addresses of tables of m entries, n a multiple of 4. */
  scaleRows(m: number, n: number, arows: number, crows: number, scales: number): void {
    if (n % 4 !== 0) throw new RangeError(`simd gemm: bad scaleRows n=${n}`);
    this.kernels.scaleRows(m, n, arows, crows, scales);
  }

  /** relocate (gemm.wat): to[i] = from[i] < 0 ? marker : from[i] + base over `count` int32s at byte addresses from and to (a row table kept as offsets, placed). */
  relocate(count: number, from: number, to: number, base: number, marker: number): void {
    this.kernels.relocate(count, from, to, base, marker);
  }

  /**
   * affine (or with `relu`, affineRelu) of batch-norm.wat over `rows` rows of `channels` floats
   * (byte addresses: u, v, out [rows, channels]; a, s, b, c per channel), split by rows on two threads.
   */
  affine(relu: boolean, rows: number, channels: number, u: number, a: number, v: number, s: number, b: number, c: number, out: number): void {
    const name = relu ? 'affineRelu' : 'affine';
    const here = this.shared === null || rows * channels < SPLIT_FLOATS ? rows : Math.floor(rows / 2);
    const bn = this.batchNorm;
    if (here === rows) return bn[name](rows, channels, u, a, v, s, b, c, out);
    const at = 4 * here * channels;
    this.split(name, [rows - here, channels, u + at, a, v + at, s, b, c, out + at], () => bn[name](here, channels, u, a, v, s, b, c, out));
  }

  /**
   * Block sums of batch-norm.wat (blockSums, blockSquares: v unused; reluBlockSums: dy, y, dz) over
   * `rows` rows, one [3, channels] partial per block of `block` rows at out; split at a block
   * boundary on two threads, so the partials are the same floats as on one thread.
   */
  blockSums(
    name: 'blockSums' | 'blockSquares' | 'reluBlockSums',
    rows: number,
    channels: number,
    block: number,
    u: number,
    shift: number,
    operands: readonly number[],
    out: number,
  ): void {
    const blocks = Math.ceil(rows / block);
    const here = this.shared === null || rows * channels < SPLIT_FLOATS || blocks < 2 ? rows : block * Math.ceil(blocks / 2);
    const bn = this.batchNorm;
    const run = (count: number, offset: number, partials: number) => {
      const shifted = operands.map((ptr) => ptr + offset);
      if (name === 'reluBlockSums') return [count, channels, block, u + offset, shift, ...shifted, partials];
      return [count, channels, block, u + offset, shift, shifted[0], partials];
    };
    const call = (args: number[]) => (bn[name] as (...a: number[]) => void)(...args);
    if (here === rows) return call(run(rows, 0, out));
    this.split(name, run(rows - here, 4 * here * channels, out + 12 * (here / block) * channels), () => call(run(here, 0, out)));
  }

  /** The batch-norm kernels (simd-batch-norm.ts) bound to this arena's memory, on this thread. */
  get batchNorm(): BatchNormKernels {
    if (this.batchNormKernels === undefined) this.batchNormKernels = this.shared?.batchNorm ?? bindBatchNorm(this.memory);
    if (this.batchNormKernels === null) throw new Error('SimdArena: the batch-norm kernels do not bind to this memory');
    return this.batchNormKernels;
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
    const here = this.rowsHere(m, (m * n * a.pairs.length) / 2 / Math.max(a.rows, 1));
    if (here === m) return this.kernels.spmm(m, n, ids.ptr, a.starts.ptr, b.ptr, c.ptr);
    this.split('spmm', [m - here, n, ids.ptr + 4 * here, a.starts.ptr, b.ptr, c.ptr + 4 * here * n], () =>
      this.kernels.spmm(here, n, ids.ptr, a.starts.ptr, b.ptr, c.ptr),
    );
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

  /**
   * w -= learningRate g over the first `count` floats of both regions (a multiple of 4), rounded
   * as tf.train.sgd does in float32: the product, then the sum.
   */
  sgdStep(weights: Region, grads: Region, count: number, learningRate: number): void {
    if (count % 4 !== 0 || weights.length < count || grads.length < count) throw new RangeError(`simd gemm: bad sgdStep of ${count} floats for its regions`);
    this.kernels.sgdStep(count, weights.ptr, grads.ptr, Math.fround(-learningRate));
  }

  /** How many of a product's m output rows this thread computes (a multiple of 4): all of them below SPLIT_MULTIPLY_ADDS or on one thread, else half. */
  private rowsHere(m: number, multiplyAdds: number): number {
    if (this.shared === null || multiplyAdds < SPLIT_MULTIPLY_ADDS || m < 8) return m;
    return 4 * Math.floor(m / 8);
  }

  private split(name: SplitFunction, workerArgs: number[], here: () => void): void {
    this.threads!.split(name, workerArgs, here, this.shared!);
  }

  private check(m: number, n: number, fits: boolean): void {
    if (m % 4 !== 0 || n % 4 !== 0 || !fits) throw new RangeError(`simd gemm: bad shape m=${m} n=${n} for its regions`);
  }
}
