/**
 * implicit-gemm.ts's product on the tensor cores, through Dawn's `chromium-experimental-subgroup-matrix`
 * (with `shader-f16`): the same operands (loadA, loadB, store, split-K), the A and B slices rounded to
 * f16 in workgroup memory and multiplied as subgroup matrices of the adapter's f16 x f16 -> f32 shape
 * (M0 x K0 by K0 x N0), accumulated in f32.
 *
 * One subgroup per workgroup (its size the adapter's largest subgroup): every matrix call's offsets
 * then depend on the workgroup and loop indices only, which WGSL's uniformity analysis accepts. The
 * workgroup owns TM x TN result matrices (BM = TM M0 rows by BN = TN N0 columns); its threads stage
 * the slices, the subgroup multiplies, and the results go through workgroup memory to `store`.
 *
 * An operand may be scaled before it is rounded (`scaleA`, `scaleB`: WGSL f32 expressions, powers of
 * two); the products are divided by both scales before `store`. The gradients are scaled so that
 * their largest magnitude is 2^14 (gradient-scale.ts): small ones stay above f16's subnormals.
 */
import { checkSizes, u32 } from './kernel.js';
import { splitChunk, type GemmOperands, type GemmShape } from './implicit-gemm.js';

/** The subgroup-matrix shape (an adapter's f16 x f16 -> f32 config) and the subgroup size. */
export interface MatrixShape {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly subgroupSize: number;
}

/** Result matrices per workgroup along each axis: tiles of about 32 to 64 rows and columns. */
const perAxis = (size: number) => Math.max(1, Math.min(4, Math.floor(64 / size)));

export function matrixTile(matrix: MatrixShape): { bm: number; bn: number; bk: number; tm: number; tn: number } {
  const tm = perAxis(matrix.M);
  const tn = perAxis(matrix.N);
  const bk = matrix.K * Math.max(1, Math.floor(32 / matrix.K));
  return { bm: tm * matrix.M, bn: tn * matrix.N, bk, tm, tn };
}

export function matrixGemmSource(
  shape: GemmShape,
  operands: GemmOperands & { readonly scaleA?: string; readonly scaleB?: string },
  matrix: MatrixShape,
): { code: string; workgroups: [number, number, number] } {
  checkSizes('implicit-gemm-matrix', { m: shape.m, n: shape.n, groups: shape.groups, splits: shape.splits, M0: matrix.M, N0: matrix.N, K0: matrix.K });
  const { bm, bn, bk, tm, tn } = matrixTile(matrix);
  const chunk = shape.splits === 1 ? Math.max(bk, Math.ceil(shape.k / bk) * bk) : Math.ceil(splitChunk(shape.k, shape.splits) / bk) * bk;
  if (shape.splits > 1 && (shape.splits - 1) * chunk >= shape.k)
    throw new RangeError(`implicit-gemm-matrix: ${shape.splits} splits of ${chunk} leave one empty (K = ${shape.k})`);
  const threads = matrix.subgroupSize;
  const range = (count: number) => Array.from({ length: count }, (_, i) => i);
  const scaleA = operands.scaleA ?? '1.0';
  const scaleB = operands.scaleB ?? '1.0';
  const cells = range(tm).flatMap((i) => range(tn).map((j) => ({ i, j })));
  const left = `subgroup_matrix_left<f16, ${matrix.K}, ${matrix.M}>`;
  const right = `subgroup_matrix_right<f16, ${matrix.N}, ${matrix.K}>`;
  const result = `subgroup_matrix_result<f32, ${matrix.N}, ${matrix.M}>`;
  const [aKk, aIdx] = operands.aContiguous === 'k' ? ['e % BK', 'e / BK'] : [`e / ${u32(bm)}`, `e % ${u32(bm)}`];
  const [bKk, bIdx] = operands.bContiguous === 'k' ? ['e % BK', 'e / BK'] : [`e / ${u32(bn)}`, `e % ${u32(bn)}`];
  const code = `// implicit GEMM on subgroup matrices ${matrix.M}x${matrix.N}x${matrix.K}: M ${shape.m}, N ${shape.n}, K ${shape.k}, groups ${shape.groups}, splits ${shape.splits}, tile ${bm}x${bn}x${bk}
enable f16;
enable chromium_experimental_subgroup_matrix;
const GEMM_M = ${u32(shape.m)};
const GEMM_N = ${u32(shape.n)};
const GEMM_K = ${u32(shape.k)};
const BK = ${u32(bk)};
const SPLITS = ${u32(shape.splits)};
const KCHUNK = ${u32(chunk)};
${operands.declarations}
var<workgroup> tileA: array<f16, ${bm * bk}>;
var<workgroup> tileB: array<f16, ${bk * bn}>;
var<workgroup> tileC: array<f32, ${bm * bn}>;
${operands.loadA}
${operands.loadB}
${operands.store}
@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let n0 = wg.x * ${u32(bn)};
  let m0 = wg.y * ${u32(bm)};
  let g = wg.z / SPLITS;
  let split = wg.z % SPLITS;
  let kBegin = split * KCHUNK;
  let kEnd = min(GEMM_K, kBegin + KCHUNK);
  let scaleA = ${scaleA};
  let scaleB = ${scaleB};
${cells.map(({ i, j }) => `  var c${i}_${j} = ${result}();`).join('\n')}
  for (var k0 = kBegin; k0 < kEnd; k0 = k0 + BK) {
    // A slice [BM rows, BK columns] and B slice [BK rows, BN columns], row-major, rounded to f16.
    for (var e = li; e < ${u32(bm * bk)}; e = e + ${u32(threads)}) {
      let kk = ${aKk};
      let idx = ${aIdx};
      var v = 0.0;
      if (k0 + kk < kEnd && m0 + idx < GEMM_M) { v = loadA(g, m0 + idx, k0 + kk) * scaleA; }
      tileA[idx * BK + kk] = f16(v);
    }
    for (var e = li; e < ${u32(bk * bn)}; e = e + ${u32(threads)}) {
      let kk = ${bKk};
      let idx = ${bIdx};
      var v = 0.0;
      if (k0 + kk < kEnd && n0 + idx < GEMM_N) { v = loadB(g, k0 + kk, n0 + idx) * scaleB; }
      tileB[kk * ${u32(bn)} + idx] = f16(v);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk = kk + ${u32(matrix.K)}) {
${range(tm)
  .map((i) => `      let a${i} = subgroupMatrixLoad<${left}>(&tileA, ${u32(i * matrix.M * bk)} + kk, false, BK);`)
  .join('\n')}
${range(tn)
  .map((j) => `      let b${j} = subgroupMatrixLoad<${right}>(&tileB, kk * ${u32(bn)} + ${u32(j * matrix.N)}, false, ${u32(bn)});`)
  .join('\n')}
${cells.map(({ i, j }) => `      c${i}_${j} = subgroupMatrixMultiplyAccumulate(a${i}, b${j}, c${i}_${j});`).join('\n')}
    }
    workgroupBarrier();
  }
${cells.map(({ i, j }) => `  subgroupMatrixStore(&tileC, ${u32(i * matrix.M * bn + j * matrix.N)}, c${i}_${j}, false, ${u32(bn)});`).join('\n')}
  workgroupBarrier();
  let unscale = 1.0 / (scaleA * scaleB);
  for (var e = li; e < ${u32(bm * bn)}; e = e + ${u32(threads)}) {
    let m = m0 + e / ${u32(bn)};
    let n = n0 + e % ${u32(bn)};
    if (m < GEMM_M && n < GEMM_N) { store(g, split, m, n, tileC[e] * unscale); }
  }
}
`;
  return { code, workgroups: [Math.ceil(shape.n / bn), Math.ceil(shape.m / bm), shape.groups * shape.splits] };
}
