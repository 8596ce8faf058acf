/**
 * The power of two that brings a gradient's largest magnitude to at most 2^14 before a mixed product
 * rounds it to f16 (f16's largest value is 65504; its normal range starts at 2^-14): scale =
 * 2^(14 - ceil(log2 max |dy|)), or 1 where dy is all zero or not finite. Two kernels: maxima of chunks,
 * then the scale, into scale[0]; in a fixed order, like every reduction here.
 */
import { declareAll, u32, WORKGROUP_SIZE, type WgslKernel } from './kernel.js';

const BINDINGS = [
  { name: 'dy', kind: 'read' },
  { name: 'maxima', kind: 'write' },
  { name: 'scale', kind: 'write' },
] as const;

/** Floats of the `maxima` scratch the kernels share. */
export const GRADIENT_SCALE_CHUNKS = 256;

/** Two kernels to run in order; both bind dy (`count` floats), maxima (GRADIENT_SCALE_CHUNKS floats) and scale (1 float). */
export function gradientScaleKernels(count: number): WgslKernel[] {
  const chunks = Math.min(GRADIENT_SCALE_CHUNKS, Math.max(1, Math.ceil(count / (WORKGROUP_SIZE * 16))));
  const chunk = Math.ceil(count / chunks);
  const reduce = (value: string, into: string) => `  peak[li] = ${value};
  workgroupBarrier();
  for (var width = ${u32(WORKGROUP_SIZE / 2)}; width > 0u; width = width / 2u) {
    if (li < width) { peak[li] = max(peak[li], peak[li + width]); }
    workgroupBarrier();
  }
  if (li == 0u) { ${into} }`;
  const header = `${declareAll(BINDINGS)}
var<workgroup> peak: array<f32, ${WORKGROUP_SIZE}>;
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {`;
  const partial = `${header}
  var m = 0.0;
  let end = min(${u32(count)}, (wg.x + 1u) * ${u32(chunk)});
  for (var i = wg.x * ${u32(chunk)} + li; i < end; i = i + ${u32(WORKGROUP_SIZE)}) { m = max(m, abs(dy[i])); }
${reduce('m', 'maxima[wg.x] = peak[0];')}
}
`;
  const finish = `${header}
  var m = 0.0;
  for (var i = li; i < ${u32(chunks)}; i = i + ${u32(WORKGROUP_SIZE)}) { m = max(m, maxima[i]); }
${reduce(
  'm',
  `let top = peak[0];
    var s = 1.0;
    if (top > 0.0 && top < 3.0e38) { s = exp2(clamp(14.0 - ceil(log2(top)), -100.0, 100.0)); }
    scale[0] = s;`,
)}
}
`;
  return [
    { name: `gradient-scale maxima ${count}`, code: partial, bindings: BINDINGS, workgroups: [chunks, 1, 1] },
    { name: `gradient-scale ${count}`, code: finish, bindings: BINDINGS, workgroups: [1, 1, 1] },
  ];
}
