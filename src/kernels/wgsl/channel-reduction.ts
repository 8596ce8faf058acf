/**
 * Per-channel sums over the rows of channels-last maps, the reduction that batch norm (its statistics
 * and its gradient's sums) and the bias gradients share, in two kernels with a fixed order of
 * addition (no atomics, the same floats every run):
 * 1. `partial`: workgroups of CW channels x LANES row lanes (CW LANES = 256; neighbouring threads
 *    read neighbouring channels) each sum a chunk of rows for up to two terms (WGSL expressions of
 *    row p, channel c and group g) and write one partial per channel, term and chunk;
 * 2. `finish`: one thread per channel adds its chunks in order and runs the caller's `finish` code
 *    with the totals (`total0`, `total1`).
 * Groups (the experts' biases) reduce side by side, group g's rows at g times `rows` rows.
 */
import { declareAll, flatGrid, flatMain, u32, WORKGROUP_SIZE, type BindingKind, type WgslKernel } from './kernel.js';

export interface ReductionBinding {
  readonly name: string;
  readonly kind: BindingKind;
  readonly type?: string;
}

export interface ChannelReduction {
  /** For the kernels' names. */
  readonly name: string;
  readonly rows: number;
  readonly channels: number;
  readonly groups?: number;
  /** Bindings both kernels declare, in order (the partials buffer comes after them). */
  readonly bindings: readonly ReductionBinding[];
  /** WGSL statements before the terms, per element (may declare `let`s the terms use; `at` = (g rows + p) channels + c is declared). */
  readonly prelude?: string;
  /** One or two WGSL f32 expressions summed over the rows. */
  readonly terms: readonly string[];
  /** WGSL statements of the finishing thread: channel `c`, group `g`, sums `total0` (and `total1`). */
  readonly finish: string;
}

export interface ChannelReductionKernels {
  readonly partial: WgslKernel;
  readonly finish: WgslKernel;
  /** Floats of the partials buffer both bind last. */
  readonly partialFloats: number;
}

const nextPowerOfTwo = (v: number) => 2 ** Math.ceil(Math.log2(Math.max(1, v)));

/** The two kernels; bind `bindings` then a partials buffer of `partialFloats` floats to each. */
export function channelReduction(spec: ChannelReduction): ChannelReductionKernels {
  const groups = spec.groups ?? 1;
  const terms = spec.terms.length;
  if (terms < 1 || terms > 2) throw new RangeError(`${spec.name}: one or two terms, got ${terms}`);
  const cw = Math.min(64, nextPowerOfTwo(spec.channels));
  const lanes = WORKGROUP_SIZE / cw;
  const chunks = Math.min(512, Math.max(1, Math.ceil(spec.rows / (lanes * 64))));
  const chunkRows = Math.ceil(spec.rows / chunks);
  const bindings = [...spec.bindings, { name: 'partials', kind: 'write' as const }];
  const constants = `const ROWS = ${u32(spec.rows)};
const C = ${u32(spec.channels)};
const CHUNKS = ${u32(chunks)};
const TERMS = ${u32(terms)};`;
  const range = Array.from({ length: terms }, (_, t) => t);
  const partialCode = `${declareAll(bindings)}
${constants}
const CW = ${u32(cw)};
const LANES = ${u32(lanes)};
var<workgroup> lanesum: array<f32, ${WORKGROUP_SIZE * terms}>;
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let c = wg.x * CW + li % CW;
  let lane = li / CW;
  let chunk = wg.y;
  let g = wg.z;
${range.map((t) => `  var sum${t} = 0.0;`).join('\n')}
  if (c < C) {
    let end = min(ROWS, (chunk + 1u) * ${u32(chunkRows)});
    for (var p = chunk * ${u32(chunkRows)} + lane; p < end; p = p + LANES) {
      let at = (g * ROWS + p) * C + c;
${(spec.prelude ?? '')
  .split('\n')
  .map((line) => `      ${line}`)
  .join('\n')}
${range.map((t) => `      sum${t} = sum${t} + (${spec.terms[t]});`).join('\n')}
    }
  }
${range.map((t) => `  lanesum[${t * WORKGROUP_SIZE}u + li] = sum${t};`).join('\n')}
  workgroupBarrier();
  if (lane == 0u && c < C) {
${range
  .map(
    (t) => `    var total${t} = 0.0;
    for (var l = 0u; l < LANES; l = l + 1u) { total${t} = total${t} + lanesum[${t * WORKGROUP_SIZE}u + l * CW + li]; }
    partials[((g * CHUNKS + chunk) * TERMS + ${t}u) * C + c] = total${t};`,
  )
  .join('\n')}
  }
}
`;
  const finishGrid = flatGrid(groups * spec.channels);
  const finishCode = `${declareAll(bindings)}
${constants}
${flatMain(finishGrid)}
  if (i >= ${u32(groups * spec.channels)}) { return; }
  let c = i % C;
  let g = i / C;
${range.map((t) => `  var total${t} = 0.0;`).join('\n')}
  for (var k = 0u; k < CHUNKS; k = k + 1u) {
${range.map((t) => `    total${t} = total${t} + partials[((g * CHUNKS + k) * TERMS + ${t}u) * C + c];`).join('\n')}
  }
${spec.finish
  .split('\n')
  .map((line) => `  ${line}`)
  .join('\n')}
}
`;
  const shape = `${groups > 1 ? `${groups}x` : ''}${spec.rows}x${spec.channels}`;
  return {
    partial: { name: `${spec.name} sums ${shape}`, code: partialCode, bindings, workgroups: [Math.ceil(spec.channels / cw), chunks, groups] },
    finish: { name: `${spec.name} finish ${shape}`, code: finishCode, bindings, workgroups: finishGrid },
    partialFloats: groups * chunks * terms * spec.channels,
  };
}
