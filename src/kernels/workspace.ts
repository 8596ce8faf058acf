import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { ArenaFullError, gemmTChunks, gemmThreads, type GemmThreads } from './gemm-threads.js';
import { heapKernels, heapWinogradKernels } from './heap-kernels.js';
import { heapBlocks, heapMemory } from './wasm-internals.js';
import type { Kernels } from './simd-gemm.js';
import type { WinogradKernels } from './simd-winograd.js';

type TensorInfo = tf.TensorInfo;
const FLOAT_BYTES = 4;

/**
 * Where one operation's operands, tables and result live, and how its products run: the
 * backend's heap (one thread, operands in place) or the two-thread arena of gemm-threads.ts
 * (operands copied in, products split between the threads). Addresses are byte addresses in
 * `memory`; take views after the last allocation. Used by conv-gemm.ts, winograd-conv.ts and rows-product.ts.
 */
export interface Workspace {
  readonly memory: WebAssembly.Memory;
  /** The Winograd convolution kernels bound to `memory`. */
  readonly winograd: WinogradKernels;
  /** The address of a tensor's data that the products may read through row tables (their A). */
  input(info: TensorInfo): number;
  /**
   * input() for a product's B, read with vector loads: 16-byte aligned (tfjs aligns tensors to 8
   * bytes, and a misaligned B cost the products ~20%).
   */
  aligned(info: TensorInfo): number;
  /** aligned() for a tensor likely to come again (a layer's weights): the arena keeps its copy. */
  weights(info: TensorInfo): number;
  /**
   * Writes at ints[at + i] the address of row indices[i] of x [R, width] as the products may
   * read it: in place on the heap; in the arena, a copy of just the chosen rows.
   */
  rowsOf(x: TensorInfo, width: number, indices: ArrayLike<number>, at: number): void;
  /** A scratch region of `length` 4-byte elements (contents undefined). */
  alloc(length: number): number;
  /** The result tensor's region, returned by finish(). */
  output(shape: number[]): number;
  /**
   * A table that `build` writes as offsets, -1 where a row is the part's marker row, placed at
   * this call's addresses: the parts, in turn, take their `length` entries each, add `base` and
   * turn -1 into `marker`. The offsets depend on the operation's shapes only, so `key` names those
   * and not addresses: on the heap, where the operands' addresses change from call to call, the
   * offsets are kept between calls and only placed (a SIMD pass) instead of built again.
   */
  relativeTable(key: string, length: number, build: (offsets: Int32Array, at: number) => void, parts: readonly TablePart[]): number;
  gemmSeg(m: number, n: number, segK: number, segs: number, rows: number, stride: number, b: number, crows: number, bias: number): void;
  /** C [m, n] = A^T B over k rows (gemmT), in chunks added in float64. */
  gemmT(m: number, n: number, k: number, rows: number, b: number, c: number): void;
  /**
   * Runs a Winograd driver on each parameter block (at most two, covering disjoint tiles): in the
   * arena the first on this thread and the second on the worker, on the heap one after the other.
   */
  winogradSplit(name: 'winogradForward' | 'winogradFilterGradient', blocks: readonly number[]): void;
  /** The result as a backend tensor; frees the scratch. */
  finish(): TensorInfo;
  /** Frees everything after a failure. */
  abandon(): void;
}

/** Consecutive entries of a relative table and where they point: offsets from `base`, -1 for `marker`. */
export interface TablePart {
  readonly length: number;
  readonly base: number;
  readonly marker: number;
}

const alignUp = (ptr: number) => Math.ceil(ptr / 64) * 64;

/**
 * Relative tables kept on each backend's heap (malloc'd blocks, outside tfjs's tensors), least
 * recently used first. Why: on one thread the convolutions' operands lie at heap addresses that
 * change from call to call, so their tables were built on every call, 12 % of a one-thread
 * Wide-ResNet run; placing kept offsets is a pass of a few instructions per 4 entries.
 */
const keptOffsets = new WeakMap<BackendWasm, { tables: Map<string, { ptr: number; length: number }>; bytes: number }>();
/**
 * What the kept offsets may take on the heap. A table's size follows positions and taps, not
 * channels (a 3x3 layer at 32x32: 1.3 MB at batch 32, 10.5 MB at batch 256); a wrn-mnist worker
 * running WRN and WRN-pMoE (training batch 32, evaluation batch 256) kept 60 tables, 45 MB, with
 * 9108 of 9168 calls placing kept ones. Every table of a run must fit at once: the layers come in
 * a cycle, and a cycle longer than the cache pushes each table out before it comes again.
 */
const KEPT_OFFSET_BYTES = 160 * 2 ** 20;

/** The heap address of the offsets kept under `key` (at most KEPT_OFFSET_BYTES), built first where they are not. */
function offsetsOnHeap(backend: BackendWasm, key: string, length: number, build: (offsets: Int32Array, at: number) => void): number {
  let kept = keptOffsets.get(backend);
  if (kept === undefined) keptOffsets.set(backend, (kept = { tables: new Map(), bytes: 0 }));
  const hit = kept.tables.get(key); // the key names the shapes, and so the length
  if (hit !== undefined) {
    kept.tables.delete(key); // most recently used: to the end
    kept.tables.set(key, hit);
    return hit.ptr;
  }
  const blocks = heapBlocks(backend);
  for (const [oldKey, old] of kept.tables) {
    if (kept.bytes + 4 * length <= KEPT_OFFSET_BYTES) break;
    blocks.free(old.ptr);
    kept.bytes -= 4 * old.length;
    kept.tables.delete(oldKey);
  }
  const ptr = blocks.malloc(4 * length);
  build(new Int32Array(heapMemory(backend).buffer), ptr / 4);
  kept.tables.set(key, { ptr, length });
  kept.bytes += 4 * length;
  return ptr;
}

/** Places a relative table's parts in place, in JavaScript (for tables built once and kept). */
function placeParts(entries: Int32Array, at: number, parts: readonly TablePart[]): void {
  for (const { length, base, marker } of parts) {
    for (let i = at; i < at + length; i++) entries[i] = entries[i] < 0 ? marker : entries[i] + base;
    at += length;
  }
}

class HeapWorkspace implements Workspace {
  readonly memory: WebAssembly.Memory;
  private readonly scratch: TensorInfo[] = [];
  private result: TensorInfo | undefined;

  constructor(
    private readonly backend: BackendWasm,
    private readonly kernels: Kernels,
    readonly winograd: WinogradKernels,
  ) {
    this.memory = heapMemory(backend);
  }

  input(info: TensorInfo): number {
    return this.backend.getMemoryOffset(info.dataId);
  }

  /** In place where 16-byte aligned, else an aligned copy. */
  aligned(info: TensorInfo): number {
    const ptr = this.input(info);
    if (ptr % 16 === 0) return ptr;
    const size = tf.util.sizeFromShape(info.shape);
    const copy = this.alloc(size);
    const floats = new Float32Array(this.memory.buffer);
    floats.set(floats.subarray(ptr / FLOAT_BYTES, ptr / FLOAT_BYTES + size), copy / FLOAT_BYTES);
    return copy;
  }

  weights(info: TensorInfo): number {
    return this.aligned(info);
  }

  rowsOf(x: TensorInfo, width: number, indices: ArrayLike<number>, at: number): void {
    const base = this.backend.getMemoryOffset(x.dataId);
    const ints = new Int32Array(this.memory.buffer);
    for (let i = 0; i < indices.length; i++) ints[at + i] = base + indices[i] * width * FLOAT_BYTES;
  }

  /** 64-byte aligned. */
  alloc(length: number): number {
    const region = this.backend.makeOutput([length + 16], 'float32');
    this.scratch.push(region);
    return alignUp(this.backend.getMemoryOffset(region.dataId));
  }

  output(shape: number[]): number {
    this.result = this.backend.makeOutput(shape, 'float32');
    return this.backend.getMemoryOffset(this.result.dataId);
  }

  /** The kept offsets (offsetsOnHeap) placed into a scratch table by the SIMD relocate pass. */
  relativeTable(key: string, length: number, build: (offsets: Int32Array, at: number) => void, parts: readonly TablePart[]): number {
    if (parts.reduce((sum, part) => sum + part.length, 0) !== length) {
      throw new RangeError(`relativeTable: parts of ${parts.map((part) => part.length).join(', ')} entries do not make up the table's ${length}`);
    }
    const table = this.alloc(length);
    if (4 * length > KEPT_OFFSET_BYTES) {
      build(new Int32Array(this.memory.buffer), table / 4);
      placeParts(new Int32Array(this.memory.buffer), table / 4, parts);
      return table;
    }
    const offsets = offsetsOnHeap(this.backend, key, length, build);
    let at = 0;
    for (const { length: count, base, marker } of parts) {
      this.kernels.relocate(count, offsets + 4 * at, table + 4 * at, base, marker);
      at += count;
    }
    return table;
  }

  gemmSeg(m: number, n: number, segK: number, segs: number, rows: number, stride: number, b: number, crows: number, bias: number): void {
    this.kernels.gemmSeg(m, n, segK, segs, rows, stride, b, crows, bias);
  }

  gemmT(m: number, n: number, k: number, rows: number, b: number, c: number): void {
    const chunk = chunkRows(k);
    const partials = this.alloc(Math.ceil(k / chunk) * m * n);
    gemmTChunks(this.kernels, m, n, k, rows, b, partials, chunk);
    addChunks(new Float32Array(this.memory.buffer), partials, Math.ceil(k / chunk), m * n, c);
  }

  winogradSplit(name: 'winogradForward' | 'winogradFilterGradient', blocks: readonly number[]): void {
    for (const block of blocks) this.winograd[name](block);
  }

  finish(): TensorInfo {
    for (const region of this.scratch) this.backend.disposeData(region.dataId);
    return this.result!;
  }

  abandon(): void {
    for (const region of [...this.scratch, ...(this.result ? [this.result] : [])]) this.backend.disposeData(region.dataId);
  }
}

/** Products smaller than this many rows stay on one thread. */
const SPLIT_MIN_ROWS = 64;

/** Rows per float32 chunk of a transposed product: at least 1024, at most 16 chunks. */
export function chunkRows(k: number): number {
  return Math.max(1024, Math.ceil(k / 16));
}

/** c = the sum of `chunks` [size] float32 blocks at `partials`, added in float64. */
export function addChunks(floats: Float32Array, partials: number, chunks: number, size: number, c: number): void {
  const sums = new Float64Array(size);
  for (let i = 0; i < chunks; i++) {
    const at = partials / FLOAT_BYTES + i * size;
    for (let j = 0; j < size; j++) sums[j] += floats[at + j];
  }
  floats.set(sums, c / FLOAT_BYTES);
}

class ThreadWorkspace implements Workspace {
  readonly memory: WebAssembly.Memory;
  readonly winograd: WinogradKernels;
  private result: { ptr: number; shape: number[] } | undefined;

  constructor(
    private readonly backend: BackendWasm,
    private readonly threads: GemmThreads,
  ) {
    this.memory = threads.memory;
    this.winograd = threads.winograd;
  }

  input(info: TensorInfo): number {
    const values = this.backend.typedArrayFromHeap(info) as Float32Array;
    const ptr = this.threads.alloc(values.length);
    this.threads.floats().set(values, ptr / FLOAT_BYTES);
    return ptr;
  }

  /** Arena copies are 64-byte aligned. */
  aligned(info: TensorInfo): number {
    return this.input(info);
  }

  weights(info: TensorInfo): number {
    return this.threads.keptCopy(info.dataId, this.backend.typedArrayFromHeap(info) as Float32Array);
  }

  /** Copies only the chosen rows (an expert reads l of n patches per image). */
  rowsOf(x: TensorInfo, width: number, indices: ArrayLike<number>, at: number): void {
    const copy = this.threads.alloc(indices.length * width);
    const values = this.backend.typedArrayFromHeap(x) as Float32Array;
    const [floats, ints] = [this.threads.floats(), this.threads.ints()];
    for (let i = 0; i < indices.length; i++) {
      const target = copy / FLOAT_BYTES + i * width;
      floats.set(values.subarray(indices[i] * width, (indices[i] + 1) * width), target);
      ints[at + i] = target * FLOAT_BYTES;
    }
  }

  alloc(length: number): number {
    return this.threads.alloc(length);
  }

  output(shape: number[]): number {
    const ptr = this.threads.alloc(tf.util.sizeFromShape(shape));
    this.result = { ptr, shape };
    return ptr;
  }

  /**
   * The arena is laid out the same way by every call of the same operation on the same shapes,
   * so its placed tables repeat exactly: built once (~1-2 ms for a 3x3 layer at batch 32), then
   * kept in the arena under a key that names the parts' addresses too, and used in place
   * (copying them cost ~2.5 ms of a Wide-ResNet step).
   */
  relativeTable(key: string, length: number, build: (offsets: Int32Array, at: number) => void, parts: readonly TablePart[]): number {
    const placedKey = `${key} ${parts.map((part) => `${part.base}/${part.marker}`).join(' ')}`;
    return this.threads.table(placedKey, length, (entries, at) => {
      build(entries, at);
      placeParts(entries, at, parts);
    });
  }

  /** Rows split in two multiples of 4: the first part here, the rest on the worker. */
  gemmSeg(m: number, n: number, segK: number, segs: number, rows: number, stride: number, b: number, crows: number, bias: number): void {
    const { kernels } = this.threads;
    if (m < SPLIT_MIN_ROWS) return kernels.gemmSeg(m, n, segK, segs, rows, stride, b, crows, bias);
    const here = 4 * Math.ceil(m / 8);
    this.threads.split('gemmSeg', [m - here, n, segK, segs, rows + 4 * here, stride, b, crows + 4 * here, bias], () =>
      kernels.gemmSeg(here, n, segK, segs, rows, stride, b, crows, bias),
    );
  }

  /** Chunks split in two: each thread computes its chunks' products, all added after. */
  gemmT(m: number, n: number, k: number, rows: number, b: number, c: number): void {
    const { kernels } = this.threads;
    const chunk = chunkRows(k);
    const chunks = Math.ceil(k / chunk);
    const partials = this.threads.alloc(chunks * m * n);
    if (chunks < 2) {
      gemmTChunks(kernels, m, n, k, rows, b, partials, chunk);
    } else {
      const hereRows = Math.ceil(chunks / 2) * chunk;
      const workerChunks = partials + Math.ceil(chunks / 2) * m * n * FLOAT_BYTES;
      this.threads.split('gemmTChunks', [m, n, k - hereRows, rows + 4 * hereRows, b + hereRows * n * FLOAT_BYTES, workerChunks, chunk], () =>
        gemmTChunks(kernels, m, n, hereRows, rows, b, partials, chunk),
      );
    }
    addChunks(this.threads.floats(), partials, chunks, m * n, c);
  }

  winogradSplit(name: 'winogradForward' | 'winogradFilterGradient', blocks: readonly number[]): void {
    if (blocks.length < 2) blocks.forEach((block) => this.winograd[name](block));
    else this.threads.split(name, [blocks[1]], () => this.winograd[name](blocks[0]));
  }

  finish(): TensorInfo {
    const { ptr, shape } = this.result!;
    const out = this.backend.makeOutput(shape, 'float32');
    const size = tf.util.sizeFromShape(shape);
    (this.backend.typedArrayFromHeap(out) as Float32Array).set(this.threads.floats().subarray(ptr / FLOAT_BYTES, ptr / FLOAT_BYTES + size));
    this.threads.reset();
    return out;
  }

  abandon(): void {
    this.threads.reset();
  }
}

/**
 * Runs one operation in a workspace: the two-thread arena where it is available, wanted
 * (`threaded`: false for products too small to repay the copies) and the operands fit, else the
 * backend's heap. null where neither applies (no SIMD).
 */
export function inWorkspace(backend: BackendWasm, body: (work: Workspace) => void, threaded = true): TensorInfo | null {
  const threads = threaded ? gemmThreads() : null;
  if (threads) {
    try {
      return runIn(new ThreadWorkspace(backend, threads), body);
    } catch (error) {
      if (!(error instanceof ArenaFullError)) throw error; // the operands did not fit the arena: on the heap instead
    }
  }
  const kernels = heapKernels(backend);
  const winograd = heapWinogradKernels(backend);
  return kernels === null || winograd === null ? null : runIn(new HeapWorkspace(backend, kernels, winograd), body);
}

function runIn(work: Workspace, body: (work: Workspace) => void): TensorInfo {
  try {
    body(work);
    return work.finish();
  } catch (error) {
    work.abandon();
    throw error;
  }
}

/**
 * A region of `floats` zeros (the row that taps in the padding read) followed by as many floats
 * of scratch (the row that padding rows of a product write). Zeroed here: workspace memory is reused.
 */
export function spareRows(work: Workspace, floats: number): { zero: number; scratch: number } {
  const zero = work.alloc(2 * floats);
  new Float32Array(work.memory.buffer).fill(0, zero / FLOAT_BYTES, zero / FLOAT_BYTES + floats);
  return { zero, scratch: zero + floats * FLOAT_BYTES };
}

export const int32View = (work: Workspace) => new Int32Array(work.memory.buffer);
export const float32View = (work: Workspace) => new Float32Array(work.memory.buffer);
