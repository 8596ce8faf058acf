import { addTo, type Bytes, functionBody, ins, memoryModule, seq, whileNot } from './wasm-assembler.js';

/**
 * The two passes batch normalisation needs, as WebAssembly SIMD over a row-major [P, C] matrix
 * (C a multiple of 4; pointers are byte addresses in the bound memory):
 *
 *   blockSums(P, C, block, u, shift, v, out): for each block of `block` rows, per channel,
 *     d = u - shift:  out[b, 0] = sum d,  out[b, 1] = sum v,  out[b, 2] = sum d v     (out: [blocks, 3, C])
 *   blockSquares: the same with v = d (so out[b, 2] = sum d^2).
 *   affine(P, C, u, a, v, s, b, c, out): out = u a + (v - s) b + c, a, s, b, c per channel (v
 *     centred before scaling: x ~ 1000 + N(0, 1) would lose digits in x b - mean b).
 *   columnSums(P, C, x, out): out[c] += sum over rows of x[p, c], in float64 (out: C doubles,
 *     8-byte aligned): Sum and Mean over leading axes, exact up to float64 rounding.
 * and the ReLU that follows every batch norm in a Wide-ResNet:
 *   reluGrad(bytes, x, dy, out): out = dy where x > 0, else 0 (bytes a multiple of 16).
 *
 * Sums run in float32 within a block (register accumulators, channels outer, rows inner) and the
 * caller adds the blocks' sums in float64: batch norm's gradient sums tens of thousands of nearly
 * cancelling terms, which a float32 running sum gets wrong (see wasm-kernels.ts, Sum).
 * Why not JS loops over the heap: measured ~4 ns per element and pass, 5 passes per layer.
 */

// blockSums parameters, then locals.
const [P, C, BLOCK, U, SHIFT, V, OUT] = [0, 1, 2, 3, 4, 5, 6];
const [B0, END, J, PU, PV, LD, OP] = [7, 8, 9, 10, 11, 12, 13];
const [SH, AU, AV, AUV, D, VV] = [14, 15, 16, 17, 18, 19];

function blockSums(square: boolean): Bytes {
  const row = seq(
    ins.get(PU), ins.v128Load(0), ins.get(SH), ins.f32x4Sub, ins.set(D),
    square ? seq(ins.get(D), ins.set(VV)) : seq(ins.get(PV), ins.v128Load(0), ins.set(VV)),
    ins.get(AU), ins.get(D), ins.f32x4Add, ins.set(AU),
    ins.get(AV), ins.get(VV), ins.f32x4Add, ins.set(AV),
    ins.get(AUV), ins.get(D), ins.get(VV), ins.f32x4Mul, ins.f32x4Add, ins.set(AUV),
    addTo(PU, ins.get(LD)),
    addTo(PV, ins.get(LD)),
    addTo(B0, ins.i32(1)),
  );
  // One channel vector (byte offset J) over the block's rows; B0 is restored after.
  const channels = seq(
    ins.get(SHIFT), ins.get(J), ins.add, ins.v128Load(0), ins.set(SH),
    ins.v128Zero, ins.set(AU), ins.v128Zero, ins.set(AV), ins.v128Zero, ins.set(AUV),
    ins.get(U), ins.get(B0), ins.get(LD), ins.mul, ins.add, ins.get(J), ins.add, ins.set(PU),
    ins.get(V), ins.get(B0), ins.get(LD), ins.mul, ins.add, ins.get(J), ins.add, ins.set(PV),
    ins.get(B0),
    whileNot(seq(ins.get(B0), ins.get(END), ins.geU), row),
    ins.set(B0),
    ...[AU, AV, AUV].map((acc, k) => seq(ins.get(OP), ins.get(J), ins.add, ins.get(acc), ins.v128Store(0), k < 2 ? addTo(OP, ins.get(LD)) : seq())),
    // OP back to the block's start.
    ins.get(OP), ins.get(LD), ins.i32(2), ins.mul, ins.i32(-1), ins.mul, ins.add, ins.set(OP),
    addTo(J, ins.i32(16)),
  );
  const block = seq(
    // END = min(B0 + block, P).
    ins.get(B0), ins.get(BLOCK), ins.add, ins.set(END),
    ins.get(P), ins.get(END), ins.get(END), ins.get(P), ins.gtU, ins.select, ins.set(END),
    ins.i32(0), ins.set(J),
    whileNot(seq(ins.get(J), ins.get(LD), ins.geU), channels),
    addTo(OP, seq(ins.get(LD), ins.i32(3), ins.mul)),
    ins.get(END), ins.set(B0),
  );
  const setup = seq(ins.get(C), ins.i32(4), ins.mul, ins.set(LD), ins.get(OUT), ins.set(OP), ins.i32(0), ins.set(B0));
  return functionBody(7, 6, seq(setup, whileNot(seq(ins.get(B0), ins.get(P), ins.geU), block)));
}

// affine parameters, then locals.
const [AP, AC, AUP, AA, AVP, AS, AB, ACC, AOUT] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const [I, TOTAL, AJ, ALD] = [9, 10, 11, 12];

function affine(): Bytes {
  const at = (base: number, offset: number) => seq(ins.get(base), ins.get(offset), ins.add, ins.v128Load(0));
  const vector = seq(
    ins.get(AOUT), ins.get(I), ins.add,
    at(AUP, I), at(AA, AJ), ins.f32x4Mul,
    at(AVP, I), at(AS, AJ), ins.f32x4Sub, at(AB, AJ), ins.f32x4Mul, ins.f32x4Add,
    at(ACC, AJ), ins.f32x4Add,
    ins.v128Store(0),
    addTo(I, ins.i32(16)),
    addTo(AJ, ins.i32(16)),
  );
  const row = seq(ins.i32(0), ins.set(AJ), whileNot(seq(ins.get(AJ), ins.get(ALD), ins.geU), vector));
  const setup = seq(
    ins.get(AC), ins.i32(4), ins.mul, ins.set(ALD),
    ins.get(AP), ins.get(ALD), ins.mul, ins.set(TOTAL),
    ins.i32(0), ins.set(I),
  );
  return functionBody(4, 0, seq(setup, whileNot(seq(ins.get(I), ins.get(TOTAL), ins.geU), row)));
}

// reluGrad parameters, then one local.
const [RBYTES, RX, RDY, ROUT, RI] = [0, 1, 2, 3, 4];

function reluGrad(): Bytes {
  const at = (base: number) => seq(ins.get(base), ins.get(RI), ins.add);
  const vector = seq(
    at(ROUT),
    at(RDY), ins.v128Load(0),
    at(RX), ins.v128Load(0), ins.v128Zero, ins.f32x4Gt,
    ins.v128And,
    ins.v128Store(0),
    addTo(RI, ins.i32(16)),
  );
  return functionBody(1, 0, seq(ins.i32(0), ins.set(RI), whileNot(seq(ins.get(RI), ins.get(RBYTES), ins.geU), vector)));
}

// columnSums parameters, then locals.
const [CP, CC, CX, COUT, CI, CEND, CJ, CLD] = [0, 1, 2, 3, 4, 5, 6, 7];
const [CV] = [8];

function columnSums(): Bytes {
  // Floats j..j+3 of the row at CI: their doubles at out + 2 j (two f64x2 halves).
  const half = (offset: number, high: boolean) =>
    seq(
      ins.get(COUT), ins.get(CJ), ins.i32(2), ins.mul, ins.add,
      ins.get(COUT), ins.get(CJ), ins.i32(2), ins.mul, ins.add, ins.v128Load(offset),
      high ? seq(ins.get(CV), ins.get(CV), ins.swapHalves) : ins.get(CV), ins.f64x2PromoteLow,
      ins.f64x2Add,
      ins.v128Store(offset),
    );
  const vector = seq(
    ins.get(CX), ins.get(CI), ins.add, ins.get(CJ), ins.add, ins.v128Load(0), ins.set(CV),
    half(0, false),
    half(16, true),
    addTo(CJ, ins.i32(16)),
  );
  const row = seq(ins.i32(0), ins.set(CJ), whileNot(seq(ins.get(CJ), ins.get(CLD), ins.geU), vector), addTo(CI, ins.get(CLD)));
  const setup = seq(ins.get(CC), ins.i32(4), ins.mul, ins.set(CLD), ins.get(CP), ins.get(CLD), ins.mul, ins.set(CEND), ins.i32(0), ins.set(CI));
  return functionBody(4, 1, seq(setup, whileNot(seq(ins.get(CI), ins.get(CEND), ins.geU), row)));
}

export function batchNormModuleBytes(): Uint8Array<ArrayBuffer> {
  return memoryModule([
    { name: 'blockSums', params: 7, body: blockSums(false) },
    { name: 'blockSquares', params: 7, body: blockSums(true) },
    { name: 'affine', params: 9, body: affine() },
    { name: 'reluGrad', params: 4, body: reluGrad() },
    { name: 'columnSums', params: 4, body: columnSums() },
  ]);
}

type BlockSums = (rows: number, channels: number, block: number, u: number, shift: number, v: number, out: number) => void;
export interface BatchNormKernels {
  blockSums: BlockSums;
  blockSquares: BlockSums;
  affine: (rows: number, channels: number, u: number, a: number, v: number, s: number, b: number, c: number, out: number) => void;
  reluGrad: (bytes: number, x: number, dy: number, out: number) => void;
  columnSums: (rows: number, channels: number, x: number, out: number) => void;
}

let compiled: WebAssembly.Module | null | undefined;

/** The kernels bound to an existing memory, or null where SIMD or the binding is unavailable. */
export function bindBatchNorm(memory: WebAssembly.Memory): BatchNormKernels | null {
  if (compiled === undefined) {
    try {
      const bytes = batchNormModuleBytes();
      compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
    } catch {
      compiled = null;
    }
  }
  if (compiled === null) return null;
  try {
    return new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as BatchNormKernels;
  } catch {
    return null;
  }
}
