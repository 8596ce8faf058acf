/**
 * A minimal WebAssembly encoder, just what the project's hand-written SIMD kernels use
 * (simd-gemm.ts, simd-batch-norm.ts): no toolchain that compiles C or Rust to wasm is available
 * to the project, so the kernels are assembled byte by byte.
 */

export const I32 = 0x7f;
export const V128 = 0x7b;

export function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function sleb(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const simd = (op: number) => [0xfd, ...uleb(op)];

/** Instructions, by name, as byte arrays. */
export const ins = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  get: (local: number) => [0x20, ...uleb(local)],
  set: (local: number) => [0x21, ...uleb(local)],
  i32: (value: number) => [0x41, ...sleb(value)],
  add: [0x6a],
  mul: [0x6c],
  geU: [0x4f],
  gtU: [0x4b],
  select: [0x1b],
  load: (offset = 0) => [0x28, 2, ...uleb(offset)],
  v128Load: (offset = 0) => [...simd(0x00), 4, ...uleb(offset)],
  v128Splat32: (offset = 0) => [...simd(0x09), 2, ...uleb(offset)],
  v128Store: (offset = 0) => [...simd(0x0b), 4, ...uleb(offset)],
  v128Zero: [...simd(0x0c), ...new Array<number>(16).fill(0)],
  f32x4Add: simd(0xe4),
  f32x4Sub: simd(0xe5),
  f32x4Mul: simd(0xe6),
  /** Relaxed SIMD: a b + c, one rounding where the hardware has FMA. Stack: a, b, c. */
  f32x4RelaxedMadd: simd(0x105),
  f32x4Gt: simd(0x44),
  f64x2Add: simd(0xf0),
  f64x2PromoteLow: simd(0x5f),
  /** i8x16.shuffle of two vectors (push the same one twice): lanes 8-15 then 0-7 (the high two floats low). */
  swapHalves: [...simd(0x0d), 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7],
  v128And: simd(0x4e),
};

export type Bytes = number[];
export const seq = (...parts: (Bytes | number)[]): Bytes => parts.flatMap((p) => (typeof p === 'number' ? [p] : p));

/** `local += value` for an i32 local. */
export const addTo = (local: number, value: Bytes) => seq(ins.get(local), value, ins.add, ins.set(local));
/** while (!(a >= b)) { body }: `exit` computes the condition that leaves the loop. */
export const whileNot = (exit: Bytes, body: Bytes) => seq(ins.block, ins.loop, exit, ins.brIf(1), body, ins.br(0), ins.end, ins.end);

/** A function body: `i32Locals` i32 and `v128Locals` v128 locals after the parameters, then `code`. */
export function functionBody(i32Locals: number, v128Locals: number, code: Bytes): Bytes {
  const body = seq(uleb(2), uleb(i32Locals), I32, uleb(v128Locals), V128, code, ins.end);
  return seq(uleb(body.length), body);
}

function section(id: number, content: Bytes): Bytes {
  return seq(id, uleb(content.length), content);
}

const name = (text: string) => seq(uleb(text.length), ...Array.from(text, (ch) => ch.charCodeAt(0)));

/**
 * A module that imports env.memory and exports the given functions, each with only i32 parameters
 * and no result. `sharedMaxPages`: import a shared memory of at most that many pages instead.
 */
export function memoryModule(functions: { name: string; params: number; body: Bytes }[], sharedMaxPages?: number): Uint8Array<ArrayBuffer> {
  const arities = [...new Set(functions.map((f) => f.params))];
  const type = (params: number) => seq(0x60, uleb(params), ...new Array<number>(params).fill(I32), uleb(0));
  const bytes = seq(
    [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    section(1, seq(uleb(arities.length), ...arities.map(type))),
    section(2, seq(uleb(1), name('env'), name('memory'), 0x02, sharedMaxPages === undefined ? seq(0x00, uleb(1)) : seq(0x03, uleb(1), uleb(sharedMaxPages)))),
    section(3, seq(uleb(functions.length), ...functions.map((f) => uleb(arities.indexOf(f.params))))),
    section(7, seq(uleb(functions.length), ...functions.map((f, i) => seq(name(f.name), 0x00, uleb(i))))),
    section(10, seq(uleb(functions.length), ...functions.map((f) => f.body))),
  );
  return Uint8Array.from(bytes);
}
