/**
 * The tiled matrix product the convolution kernels share: C[m, n] = sum_k A[m, k] B[k, n] for each
 * group g (a workgroup-grid z index: one expert, or 1), with A and B never stored as matrices: the
 * caller's `loadA` and `loadB` read them from the tensors (an implicit im2col) and its `store` writes
 * each result where it belongs (adding a bias, accumulating, or into a split-K partial).
 *
 * A workgroup of 16 x 16 threads owns a tile of BM = 16 rowsPerThread rows by BN = 16 colsPerThread
 * columns. The reduction runs in slices of BK = 16: the workgroup stages an A slice [BK, BM] and a
 * B slice [BK, BN] in workgroup memory (each thread loading rowsPerThread and colsPerThread values,
 * neighbouring threads along the operand's contiguous axis so that loads coalesce), then each thread
 * accumulates its rowsPerThread x colsPerThread outputs in registers (register blocking). Thread (tx,
 * ty) owns rows ty + 16 i and columns tx + 16 j: neighbouring threads read neighbouring words of the
 * tiles and store neighbouring columns.
 *
 * Split-K: with `splits` > 1 the reduction is cut into chunks of `kChunk` (a multiple of BK); the
 * grid's z index is g * splits + split and `store` receives the split (the filter gradients reduce
 * over every position of the batch, far more than their M x N outputs need to fill the GPU).
 */
import { checkSizes, u32 } from './kernel.js';

export const GEMM_THREADS = 16;
export const GEMM_SLICE = 16;

export type ThreadBlock = 1 | 2 | 4 | 8;

export interface GemmShape {
  readonly m: number;
  readonly n: number;
  /** May be 0: then every output is stored as 0. */
  readonly k: number;
  readonly groups: number;
  /** Reduction chunks (split-K); 1 for none. */
  readonly splits: number;
}

export interface GemmTile {
  readonly rowsPerThread: ThreadBlock;
  readonly colsPerThread: ThreadBlock;
}

export interface GemmOperands {
  /** Bindings, constants and helper functions the three functions below use. */
  readonly declarations: string;
  /** `fn loadA(g: u32, m: u32, k: u32) -> f32`, called only with m < M and k < K. */
  readonly loadA: string;
  /** Which index of A is contiguous in memory: neighbouring threads load along it. */
  readonly aContiguous: 'm' | 'k';
  /** `fn loadB(g: u32, k: u32, n: u32) -> f32`, called only with k < K and n < N. */
  readonly loadB: string;
  readonly bContiguous: 'k' | 'n';
  /** `fn store(g: u32, split: u32, m: u32, n: u32, v: f32)`, called once per output with m < M, n < N. The source names M, N, K GEMM_M, GEMM_N, GEMM_K. */
  readonly store: string;
}

/**
 * How a kernel picks its tile: `tile` as given, else one for its shape with at most `maxThreadBlock`
 * outputs per thread along each axis (1 on software adapters, where every register-blocked variant
 * takes seconds to compile and computes nothing faster).
 */
export interface TileChoice {
  readonly tile?: GemmTile;
  readonly maxThreadBlock?: ThreadBlock;
}

/** A tile for a product of this shape: wide where the matrix is, narrow for few columns or rows. */
export function chooseTile(m: number, n: number, choice: TileChoice = {}): GemmTile {
  if (choice.tile) return choice.tile;
  const limit = choice.maxThreadBlock ?? 4;
  const block = (size: number): ThreadBlock => Math.min(limit, size >= 128 ? 4 : size >= 32 ? 2 : 1) as ThreadBlock;
  return { rowsPerThread: m >= 4096 ? (Math.min(limit, 4) as ThreadBlock) : block(m), colsPerThread: block(n) };
}

/** The reduction chunk of split-K: `splits` chunks, each a whole number of slices. */
export function splitChunk(k: number, splits: number): number {
  return Math.max(GEMM_SLICE, Math.ceil(k / splits / GEMM_SLICE) * GEMM_SLICE);
}

/** Splits of a product's reduction so that about `targetWorkgroups` workgroups run, each with at least `minSlices` slices. */
export function chooseSplits(shape: Omit<GemmShape, 'splits'>, tile: GemmTile, targetWorkgroups = 1024, minSlices = 16): number {
  const tiles = Math.ceil(shape.m / (GEMM_THREADS * tile.rowsPerThread)) * Math.ceil(shape.n / (GEMM_THREADS * tile.colsPerThread)) * shape.groups;
  const maxSplits = Math.max(1, Math.floor(shape.k / (GEMM_SLICE * minSlices)));
  return usableSplits(shape.k, Math.min(maxSplits, Math.max(1, Math.round(targetWorkgroups / tiles))));
}

/** At most `splits` chunks of whole slices, none empty. */
export function usableSplits(k: number, splits: number): number {
  return Math.max(1, Math.ceil(k / splitChunk(k, splits)));
}

/** The WGSL source and grid of the product. */
export function gemmSource(shape: GemmShape, tile: GemmTile, operands: GemmOperands): { code: string; workgroups: [number, number, number] } {
  checkSizes('implicit-gemm', { m: shape.m, n: shape.n, groups: shape.groups, splits: shape.splits });
  const { rowsPerThread: tm, colsPerThread: tn } = tile;
  const bm = GEMM_THREADS * tm;
  const bn = GEMM_THREADS * tn;
  const bk = GEMM_SLICE;
  const chunk = shape.splits === 1 ? Math.max(bk, Math.ceil(shape.k / bk) * bk) : splitChunk(shape.k, shape.splits);
  if (shape.splits > 1 && (shape.splits - 1) * chunk >= shape.k)
    throw new RangeError(`implicit-gemm: ${shape.splits} splits of ${chunk} leave one empty (K = ${shape.k})`);
  const threads = GEMM_THREADS * GEMM_THREADS;
  const range = (count: number) => Array.from({ length: count }, (_, i) => i);
  // Tile loads: element e = li + threads r of a slice, r < per (a loop: unrolled copies of the loaders made the source several times longer).
  const loadTile = (which: 'A' | 'B', per: number, width: number, limit: string, contiguous: 'wide' | 'k', load: (outer: string, inner: string) => string) => {
    const [kk, idx] = contiguous === 'k' ? ['e % BK', 'e / BK'] : [`e / ${u32(width)}`, `e % ${u32(width)}`];
    return `    for (var r = 0u; r < ${u32(per)}; r = r + 1u) {
      let e = li + r * ${u32(threads)};
      let kk = ${kk};
      let idx = ${idx};
      let kg = k0 + kk;
      var v = 0.0;
      if (kg < kEnd && ${limit}) { v = ${load('idx', 'kg')}; }
      tile${which}[kk * ${u32(width)} + idx] = v;
    }`;
  };
  const accumulators = range(tm)
    .flatMap((i) => range(tn).map((j) => `  var c${i}_${j} = 0.0;`))
    .join('\n');
  const products = range(tm)
    .flatMap((i) => range(tn).map((j) => `      c${i}_${j} = fma(a${i}, b${j}, c${i}_${j});`))
    .join('\n');
  const stores = range(tm)
    .flatMap((i) =>
      range(tn).map(
        (j) => `  {
    let m = m0 + ty + ${u32(GEMM_THREADS * i)};
    let n = n0 + tx + ${u32(GEMM_THREADS * j)};
    if (m < GEMM_M && n < GEMM_N) { store(g, split, m, n, c${i}_${j}); }
  }`,
      ),
    )
    .join('\n');
  const code = `// implicit GEMM: M ${shape.m}, N ${shape.n}, K ${shape.k}, groups ${shape.groups}, splits ${shape.splits}, tile ${bm}x${bn}x${bk}
const GEMM_M = ${u32(shape.m)};
const GEMM_N = ${u32(shape.n)};
const GEMM_K = ${u32(shape.k)};
const BK = ${u32(bk)};
const SPLITS = ${u32(shape.splits)};
const KCHUNK = ${u32(chunk)};
${operands.declarations}
var<workgroup> tileA: array<f32, ${bk * bm}>;
var<workgroup> tileB: array<f32, ${bk * bn}>;
${operands.loadA}
${operands.loadB}
${operands.store}
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tx = li % ${u32(GEMM_THREADS)};
  let ty = li / ${u32(GEMM_THREADS)};
  let n0 = wg.x * ${u32(bn)};
  let m0 = wg.y * ${u32(bm)};
  let g = wg.z / SPLITS;
  let split = wg.z % SPLITS;
  let kBegin = split * KCHUNK;
  let kEnd = min(GEMM_K, kBegin + KCHUNK);
${accumulators}
  for (var k0 = kBegin; k0 < kEnd; k0 = k0 + BK) {
${loadTile('A', tm, bm, 'm0 + idx < GEMM_M', operands.aContiguous === 'k' ? 'k' : 'wide', (idx, kg) => `loadA(g, m0 + ${idx}, ${kg})`)}
${loadTile('B', tn, bn, 'n0 + idx < GEMM_N', operands.bContiguous === 'k' ? 'k' : 'wide', (idx, kg) => `loadB(g, ${kg}, n0 + ${idx})`)}
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk = kk + 1u) {
${range(tm)
  .map((i) => `      let a${i} = tileA[kk * ${u32(bm)} + ty + ${u32(GEMM_THREADS * i)}];`)
  .join('\n')}
${range(tn)
  .map((j) => `      let b${j} = tileB[kk * ${u32(bn)} + tx + ${u32(GEMM_THREADS * j)}];`)
  .join('\n')}
${products}
    }
    workgroupBarrier();
  }
${stores}
}
`;
  const grid: [number, number, number] = [Math.ceil(shape.n / bn), Math.ceil(shape.m / bm), shape.groups * shape.splits];
  return { code, workgroups: grid };
}
