/**
 * Matrix products for the fused training steps of the two-layer models, as a small WebAssembly
 * SIMD module written here byte by byte.
 *
 * Why not a tfjs op: the wasm backend's fast product (XNNPACK) packs its right-hand operand into a
 * new operator whenever that tensor is new (~10-16 ns per element, measured), and the weights and
 * gradients of a training step are new every step; its transposed products fall to a loop 10-30x
 * slower; and every op costs engine overhead. These kernels read their left operand through a table
 * of row addresses, so a mini-batch, the patches an expert selected, or their transpose are used in
 * place: no gather, no transpose, no packing. No toolchain that compiles C or Rust to wasm is
 * available to the project, hence the hand-assembled module (a few hundred bytes).
 *
 * Products (f32, row-major; pointers are byte addresses in the arena's memory):
 *   gemm:  C[i, j] = sum_p A_i[p] B[p, j], A_i the K values at rows[i]       (C: M x N, B: K x N)
 *   gemmT: C[i, j] = sum_p A_p[i] B[p, j], A_p the M values at rows[p]       (C: M x N, B: K x N)
 * gemm is X W (forward), gemmT is X^T dY (weight gradient). N and M must be multiples of 4: the
 * callers pad their own buffers (zero columns; a row table padded by repeating a row).
 */

import { addTo, type Bytes, functionBody, ins, memoryModule, seq, whileNot } from './wasm-assembler.js';

/** acc + a b for three v128 operands' code: mul then add, or relaxed SIMD's fused multiply-add. */
type MulAdd = (acc: Bytes, a: Bytes, b: Bytes) => Bytes;
const separateMulAdd: MulAdd = (acc, a, b) => seq(acc, a, b, ins.f32x4Mul, ins.f32x4Add);
const fusedMulAdd: MulAdd = (acc, a, b) => seq(a, b, acc, ins.f32x4RelaxedMadd);

// Parameters of both kernels: M, N, K, rows, b, c (i32). Then locals.
const [M, N, K, ROWS, B, C] = [0, 1, 2, 3, 4, 5];
const [I0, J0, PA, R0, R1, R2, R3, BP, LDB, KB, CP, RP] = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17];
const I32_LOCALS = 12;
const ACC = 18; // 8 accumulators: row r, vector v at ACC + 2r + v
const [B0, B1, AV] = [26, 27, 28];
const V128_LOCALS = 11;

/**
 * One 4-row tile of C over `vectors` x 4 columns at j0: for each p, B's row p (one or two
 * vectors) times a splat of A_r's value for r = 0..3, accumulated; `pHead` runs first in each p.
 */
function tile(vectors: 1 | 2, splat: (row: number) => Bytes, pHead: Bytes, mulAdd: MulAdd): Bytes {
  const acc = (r: number, v: number) => ACC + 2 * r + v;
  const each = (f: (r: number, v: number) => Bytes) =>
    seq(...Array.from({ length: 4 * vectors }, (_, i) => f(Math.floor(i / vectors), i % vectors)));
  const body = seq(
    pHead,
    ins.get(BP), ins.v128Load(0), ins.set(B0),
    vectors === 2 ? seq(ins.get(BP), ins.v128Load(16), ins.set(B1)) : seq(),
    ...[0, 1, 2, 3].map((r) =>
      seq(
        splat(r), ins.set(AV),
        ...Array.from({ length: vectors }, (_, v) =>
          seq(mulAdd(ins.get(acc(r, v)), ins.get(AV), ins.get(v === 0 ? B0 : B1)), ins.set(acc(r, v))),
        ),
      ),
    ),
    addTo(BP, ins.get(LDB)),
    addTo(PA, ins.i32(4)),
  );
  return seq(
    each((r, v) => seq(ins.v128Zero, ins.set(acc(r, v)))),
    ins.get(B), ins.get(J0), ins.i32(4), ins.mul, ins.add, ins.set(BP),
    ins.i32(0), ins.set(PA),
    whileNot(seq(ins.get(PA), ins.get(KB), ins.geU), body),
    // C's row i0 + r starts at c + 4 ((i0 + r) N + j0).
    ins.get(C), ins.get(I0), ins.get(N), ins.mul, ins.get(J0), ins.add, ins.i32(4), ins.mul, ins.add, ins.set(CP),
    ...[0, 1, 2, 3].map((r) =>
      seq(...Array.from({ length: vectors }, (_, v) => seq(ins.get(CP), ins.get(acc(r, v)), ins.v128Store(16 * v))), addTo(CP, ins.get(LDB))),
    ),
  );
}

/** The kernel: i0 over M in steps of 4, j0 over N in tiles of 8 then one of 4, p over K (PA = 4 p). */
function kernel(transposed: boolean, mulAdd: MulAdd): Bytes {
  // gemm: A_r's value at rows[i0 + r] + 4p, the four row addresses loaded once per i0.
  // gemmT: A_p's values i0..i0+3 at rows[p] + 4 i0, the row address loaded once per p.
  const rowAt = (r: number) => seq(ins.get(ROWS), ins.get(I0), ins.i32(4), ins.mul, ins.add, ins.load(4 * r));
  const loadRows = transposed ? seq() : seq(...[R0, R1, R2, R3].map((local, r) => seq(rowAt(r), ins.set(local))));
  const pHead = transposed
    ? seq(ins.get(ROWS), ins.get(PA), ins.add, ins.load(0), ins.get(I0), ins.i32(4), ins.mul, ins.add, ins.set(RP))
    : seq();
  const splat = transposed
    ? (r: number) => seq(ins.get(RP), ins.v128Splat32(4 * r))
    : (r: number) => seq(ins.get([R0, R1, R2, R3][r]), ins.get(PA), ins.add, ins.v128Splat32(0));
  const j8 = whileNot(seq(ins.get(J0), ins.i32(8), ins.add, ins.get(N), ins.gtU), seq(tile(2, splat, pHead, mulAdd), addTo(J0, ins.i32(8))));
  // One 4-wide tile when N mod 8 = 4.
  const j4 = seq(ins.block, ins.get(J0), ins.i32(4), ins.add, ins.get(N), ins.gtU, ins.brIf(0), tile(1, splat, pHead, mulAdd), ins.end);
  const iLoop = whileNot(seq(ins.get(I0), ins.get(M), ins.geU), seq(loadRows, ins.i32(0), ins.set(J0), j8, j4, addTo(I0, ins.i32(4))));
  const setup = seq(ins.get(N), ins.i32(4), ins.mul, ins.set(LDB), ins.get(K), ins.i32(4), ins.mul, ins.set(KB), ins.i32(0), ins.set(I0));
  return functionBody(I32_LOCALS, V128_LOCALS, seq(setup, iLoop));
}

/**
 * The sparse kernels. A sparse matrix is a table of row starts (byte addresses, row id r spanning
 * starts[r] .. starts[r + 1]) into (i32 column, f32 value) pairs, 8 bytes each; `ids` picks the rows.
 *   spmm:  C[i, j] = sum over row ids[i]'s pairs (col, v) of v B[col, j]          (C: M x N)
 *   spmmT: C[col, j] += v B[p, j] for every pair (col, v) of row ids[p], p < K   (C zeroed by the caller)
 * Columns run in chunks of 16, then 8, then 4, so that several accumulators hide the add latency.
 * Both sum in the order the dense kernels do, and a zero term adds nothing: the same floats.
 * Parameters (i32): M or K, N, ids, starts, b, c.
 */
const [COUNT, SN, IDS, STARTS, SB, SC] = [0, 1, 2, 3, 4, 5];
const [ROW, ROWB, CJ, Q, QSTART, QEND, BASE, SLDB, ADDR] = [6, 7, 8, 9, 10, 11, 12, 13, 14];
const [VA, V0] = [18, 19]; // the value's splat; V0.. the chunk's accumulators (spmm) or B's vectors (spmmT)

function sparseKernel(transposed: boolean, mulAdd: MulAdd): Bytes {
  const vec = (c: number) => V0 + c;
  const vectors = (count: number, f: (c: number) => Bytes) => seq(...Array.from({ length: count }, (_, c) => f(c)));
  const chunk = (count: number) => {
    // ADDR: B's row col (spmm) or C's row col (spmmT), at the chunk's columns; VA: the value.
    const pair = seq(
      ins.get(BASE), ins.get(Q), ins.load(0), ins.get(SLDB), ins.mul, ins.add, ins.set(ADDR),
      ins.get(Q), ins.v128Splat32(4), ins.set(VA),
      transposed
        ? vectors(count, (c) => seq(ins.get(ADDR), mulAdd(seq(ins.get(ADDR), ins.v128Load(16 * c)), ins.get(VA), ins.get(vec(c))), ins.v128Store(16 * c)))
        : vectors(count, (c) => seq(mulAdd(ins.get(vec(c)), ins.get(VA), seq(ins.get(ADDR), ins.v128Load(16 * c))), ins.set(vec(c)))),
    );
    const before = transposed
      ? seq(
          vectors(count, (c) => seq(ins.get(SB), ins.get(ROWB), ins.add, ins.get(CJ), ins.add, ins.v128Load(16 * c), ins.set(vec(c)))),
          ins.get(SC), ins.get(CJ), ins.add, ins.set(BASE),
        )
      : seq(vectors(count, (c) => seq(ins.v128Zero, ins.set(vec(c)))), ins.get(SB), ins.get(CJ), ins.add, ins.set(BASE));
    const after = transposed
      ? seq()
      : vectors(count, (c) => seq(ins.get(SC), ins.get(ROWB), ins.add, ins.get(CJ), ins.add, ins.get(vec(c)), ins.v128Store(16 * c)));
    const pairs = whileNot(seq(ins.get(Q), ins.get(QEND), ins.geU), seq(pair, addTo(Q, ins.i32(8))));
    return seq(before, ins.get(QSTART), ins.set(Q), pairs, after, addTo(CJ, ins.i32(16 * count)));
  };
  // CJ = 4 j0; chunks of 16 columns while they fit, then at most one of 8 and one of 4.
  const fits = (width: number) => seq(ins.get(CJ), ins.i32(4 * width), ins.add, ins.get(SLDB), ins.gtU);
  const columns = seq(
    ins.i32(0), ins.set(CJ),
    whileNot(fits(16), chunk(4)),
    ins.block, fits(8), ins.brIf(0), chunk(2), ins.end,
    ins.block, fits(4), ins.brIf(0), chunk(1), ins.end,
  );
  // The pairs of row ids[i]: starts[ids[i]] .. starts[ids[i] + 1].
  const pairRange = seq(
    ins.get(IDS), ins.get(ROW), ins.add, ins.load(0), ins.i32(4), ins.mul, ins.get(STARTS), ins.add, ins.set(ADDR),
    ins.get(ADDR), ins.load(0), ins.set(QSTART),
    ins.get(ADDR), ins.load(4), ins.set(QEND),
  );
  // ROW = 4 i (into ids), ROWB = 4 N i (C's row i for spmm, B's row p for spmmT).
  const rows = whileNot(
    seq(ins.get(ROW), ins.get(COUNT), ins.i32(4), ins.mul, ins.geU),
    seq(pairRange, columns, addTo(ROW, ins.i32(4)), addTo(ROWB, ins.get(SLDB))),
  );
  const setup = seq(ins.get(SN), ins.i32(4), ins.mul, ins.set(SLDB), ins.i32(0), ins.set(ROW), ins.i32(0), ins.set(ROWB));
  return functionBody(I32_LOCALS, V128_LOCALS, seq(setup, rows));
}

/**
 * gemmSeg, the product behind the convolutions (conv-gemm.ts): row i of A is `segs` segments of
 * `segK` floats, segment s at rows[s stride + i] (segment-major, so a tile's four addresses are
 * adjacent; stride >= M lets a call take a range of a longer table), and row i of C is written at
 * crows[i]:
 *   C_i[j] = sum_s sum_p A_{i,s}[p] B[s segK + p, j]                                (B: segs segK x N)
 *                + bias[j]
 * With one segment per tap and the taps' input pixels as addresses (a zero row where the tap
 * falls in the padding), this is a convolution without an im2col copy. segs = 0 writes the bias.
 * Parameters (i32): M, N, segK, segs, rows, stride, b, crows, bias (N floats); M and N multiples of 4.
 */
const [GM, GN, GK, GS, GROWS, GSTRIDE, GB, GCROWS, GBIAS] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const [GI0, GJ0, GPA, GR0, GBP, GLDB, GKB, GSEG, GT] = [9, 10, 11, 12, 16, 17, 18, 19, 20];
const G_I32_LOCALS = 12;
const GACC = 21;
const [GB0, GB1, GAV] = [29, 30, 31];

function segKernel(mulAdd: MulAdd): Bytes {
  const acc = (r: number, v: number) => GACC + 2 * r + v;
  const tileOf = (vectors: 1 | 2) => {
    const each = (f: (r: number, v: number) => Bytes) =>
      seq(...Array.from({ length: 4 * vectors }, (_, i) => f(Math.floor(i / vectors), i % vectors)));
    const inner = seq(
      ins.get(GBP), ins.v128Load(0), ins.set(GB0),
      vectors === 2 ? seq(ins.get(GBP), ins.v128Load(16), ins.set(GB1)) : seq(),
      ...[0, 1, 2, 3].map((r) =>
        seq(
          ins.get(GR0 + r), ins.get(GPA), ins.add, ins.v128Splat32(0), ins.set(GAV),
          ...Array.from({ length: vectors }, (_, v) =>
            seq(mulAdd(ins.get(acc(r, v)), ins.get(GAV), ins.get(v === 0 ? GB0 : GB1)), ins.set(acc(r, v))),
          ),
        ),
      ),
      addTo(GBP, ins.get(GLDB)),
      addTo(GPA, ins.i32(4)),
    );
    // Segment s: the four rows' addresses at rows + 4 (s stride + i0) + 4 r.
    const segment = seq(
      ins.get(GROWS), ins.get(GSEG), ins.get(GSTRIDE), ins.mul, ins.get(GI0), ins.add, ins.i32(4), ins.mul, ins.add, ins.set(GT),
      ...[0, 1, 2, 3].map((r) => seq(ins.get(GT), ins.load(4 * r), ins.set(GR0 + r))),
      ins.i32(0), ins.set(GPA),
      whileNot(seq(ins.get(GPA), ins.get(GKB), ins.geU), inner),
      addTo(GSEG, ins.i32(1)),
    );
    return seq(
      each((r, v) => seq(ins.get(GBIAS), ins.get(GJ0), ins.i32(4), ins.mul, ins.add, ins.v128Load(16 * v), ins.set(acc(r, v)))),
      ins.get(GB), ins.get(GJ0), ins.i32(4), ins.mul, ins.add, ins.set(GBP),
      ins.i32(0), ins.set(GSEG),
      whileNot(seq(ins.get(GSEG), ins.get(GS), ins.geU), segment),
      // Row i0 + r of C at crows[i0 + r] + 4 j0.
      ins.get(GCROWS), ins.get(GI0), ins.i32(4), ins.mul, ins.add, ins.set(GT),
      ...[0, 1, 2, 3].map((r) =>
        seq(
          ins.get(GT), ins.load(4 * r), ins.get(GJ0), ins.i32(4), ins.mul, ins.add, ins.set(GR0 + r),
          ...Array.from({ length: vectors }, (_, v) => seq(ins.get(GR0 + r), ins.get(acc(r, v)), ins.v128Store(16 * v))),
        ),
      ),
    );
  };
  const j8 = whileNot(seq(ins.get(GJ0), ins.i32(8), ins.add, ins.get(GN), ins.gtU), seq(tileOf(2), addTo(GJ0, ins.i32(8))));
  const j4 = seq(ins.block, ins.get(GJ0), ins.i32(4), ins.add, ins.get(GN), ins.gtU, ins.brIf(0), tileOf(1), ins.end);
  const iLoop = whileNot(seq(ins.get(GI0), ins.get(GM), ins.geU), seq(ins.i32(0), ins.set(GJ0), j8, j4, addTo(GI0, ins.i32(4))));
  const setup = seq(ins.get(GN), ins.i32(4), ins.mul, ins.set(GLDB), ins.get(GK), ins.i32(4), ins.mul, ins.set(GKB), ins.i32(0), ins.set(GI0));
  return functionBody(G_I32_LOCALS, V128_LOCALS, seq(setup, iLoop));
}

/**
 * scaleRows: row i of C, at crows[i], = scales[i] times the N floats at arows[i] (N a multiple
 * of 4): gated expert outputs written to their places, zeros elsewhere (expert-outputs.ts).
 * Parameters (i32): M, N, arows, crows, scales.
 */
const [SM, SN2, SAROWS, SCROWS, SSCALES] = [0, 1, 2, 3, 4];
const [SI, SJ, SD, SROWB, SA] = [5, 6, 7, 8, 9];
const SG = 10;

function scaleRowsKernel(): Bytes {
  const columns = whileNot(
    seq(ins.get(SJ), ins.get(SROWB), ins.geU),
    seq(
      ins.get(SD), ins.get(SJ), ins.add,
      ins.get(SG), ins.get(SA), ins.get(SJ), ins.add, ins.v128Load(0), ins.f32x4Mul,
      ins.v128Store(0),
      addTo(SJ, ins.i32(16)),
    ),
  );
  const rows = whileNot(
    seq(ins.get(SI), ins.get(SM), ins.i32(4), ins.mul, ins.geU),
    seq(
      ins.get(SCROWS), ins.get(SI), ins.add, ins.load(0), ins.set(SD),
      ins.get(SAROWS), ins.get(SI), ins.add, ins.load(0), ins.set(SA),
      ins.get(SSCALES), ins.get(SI), ins.add, ins.v128Splat32(0), ins.set(SG),
      ins.i32(0), ins.set(SJ),
      columns,
      addTo(SI, ins.i32(4)),
    ),
  );
  const setup = seq(ins.get(SN2), ins.i32(4), ins.mul, ins.set(SROWB), ins.i32(0), ins.set(SI));
  return functionBody(5, 1, seq(setup, rows));
}

/**
 * The module: imports env.memory (shared, of at most `sharedMaxPages`, if given), exports gemm,
 * gemmT, spmm, spmmT, gemmSeg and scaleRows; `fused`: with relaxed SIMD's multiply-add (fusedMultiplyAdd()).
 */
export function gemmModuleBytes(sharedMaxPages?: number, fused = false): Uint8Array<ArrayBuffer> {
  const mulAdd = fused ? fusedMulAdd : separateMulAdd;
  return memoryModule([
    { name: 'gemm', params: 6, body: kernel(false, mulAdd) },
    { name: 'gemmT', params: 6, body: kernel(true, mulAdd) },
    { name: 'spmm', params: 6, body: sparseKernel(false, mulAdd) },
    { name: 'spmmT', params: 6, body: sparseKernel(true, mulAdd) },
    { name: 'gemmSeg', params: 9, body: segKernel(mulAdd) },
    { name: 'scaleRows', params: 5, body: scaleRowsKernel() },
  ], sharedMaxPages);
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
  return WebAssembly.validate(gemmModuleBytes(undefined, true));
}

// ---------------------------------------------------------------------------------------------
// The arena: one wasm memory with the kernels bound to it.

type Kernel = (m: number, n: number, k: number, rows: number, b: number, c: number) => void;
type SparseKernel = (count: number, n: number, ids: number, starts: number, b: number, c: number) => void;
type SegmentKernel = (m: number, n: number, segK: number, segs: number, rows: number, stride: number, b: number, crows: number, bias: number) => void;
type ScaleKernel = (m: number, n: number, arows: number, crows: number, scales: number) => void;
export type Kernels = { gemm: Kernel; gemmT: Kernel; spmm: SparseKernel; spmmT: SparseKernel; gemmSeg: SegmentKernel; scaleRows: ScaleKernel };

const compiled = new Map<boolean, WebAssembly.Module | null>();

/** The compiled module (`fused`: see fusedMultiplyAdd), or null where WebAssembly SIMD is unavailable. */
function gemmModule(fused = fusedMultiplyAdd()): WebAssembly.Module | null {
  if (!compiled.has(fused)) {
    let module: WebAssembly.Module | null = null;
    try {
      const bytes = gemmModuleBytes(undefined, fused);
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

/**
 * A wasm memory that regions are carved from (never freed: an arena lives as long as one
 * training run) and the two products over it. Views returned by floats()/ints() stay valid
 * until the next alloc(), which may grow (and so detach) the memory: allocate first, then view.
 */
export class SimdArena {
  private readonly memory: WebAssembly.Memory;
  private readonly kernels: Kernels;
  private top = SLACK;

  /** `fused`: the kernels with fused multiply-adds (the default where fusedMultiplyAdd() says so) or separate ones. */
  constructor(fused = fusedMultiplyAdd()) {
    const module = gemmModule(fused);
    if (module === null) throw new Error('WebAssembly SIMD is not available in this runtime');
    this.memory = new WebAssembly.Memory({ initial: 16 });
    this.kernels = new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports as unknown as Kernels;
  }

  /** A zeroed region of `length` 4-byte elements, 64-byte aligned. */
  alloc(length: number): Region {
    const ptr = this.top;
    this.top += Math.ceil((length * 4 + SLACK) / 64) * 64;
    const missing = this.top - this.memory.buffer.byteLength;
    if (missing > 0) this.memory.grow(Math.ceil(missing / PAGE));
    return { ptr, length };
  }

  floats(region: Region): Float32Array {
    return new Float32Array(this.memory.buffer, region.ptr, region.length);
  }

  ints(region: Region): Int32Array {
    return new Int32Array(this.memory.buffer, region.ptr, region.length);
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

  /** The nonzeros of a dense row-major [rows, cols] matrix, as SparseRows in this arena. */
  sparse(values: Float32Array, rows: number, cols: number): SparseRows {
    let nonzeros = 0;
    for (let i = 0; i < rows * cols; i++) if (values[i] !== 0) nonzeros++;
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

  /** C [m, n] = A B for A's rows ids[0..m) of a sparse matrix, B [a.cols, n]; n a multiple of 4. */
  spmm(m: number, n: number, ids: Region, a: SparseRows, b: Region, c: Region): void {
    this.check(0, n, ids.length >= m && b.length >= a.cols * n && c.length >= m * n);
    this.kernels.spmm(m, n, ids.ptr, a.starts.ptr, b.ptr, c.ptr);
  }

  /** C [a.cols, n] = A^T B for A's rows ids[0..k) of a sparse matrix, B [k, n]; n a multiple of 4. */
  spmmT(k: number, n: number, ids: Region, a: SparseRows, b: Region, c: Region): void {
    this.check(0, n, ids.length >= k && b.length >= k * n && c.length >= a.cols * n);
    this.floats(c).fill(0, 0, a.cols * n);
    this.kernels.spmmT(k, n, ids.ptr, a.starts.ptr, b.ptr, c.ptr);
  }

  private check(m: number, n: number, fits: boolean): void {
    if (m % 4 !== 0 || n % 4 !== 0 || !fits) throw new RangeError(`simd gemm: bad shape m=${m} n=${n} for its regions`);
  }
}
