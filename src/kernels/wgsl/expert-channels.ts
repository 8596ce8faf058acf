/**
 * Between the k experts' maps one after another, u [k, P, f], and their concatenation on channels,
 * y [P, k f] (expert-major, as the PatchMoE outputs it): `concatenate` writes y from u (forward),
 * `split` writes u from y (the output's gradient, backward).
 */
import { checkSizes, declareAll, flatGrid, flatMain, u32, type WgslKernel } from './kernel.js';

const BINDINGS = [
  { name: 'values', kind: 'read' },
  { name: 'result', kind: 'write' },
] as const;

/** Binds the source and the target; `rows` is P (batch H W). */
export function expertChannelsKernel(attrs: { rows: number; experts: number; filters: number }, direction: 'concatenate' | 'split'): WgslKernel {
  checkSizes('expert-channels', attrs);
  const count = attrs.rows * attrs.experts * attrs.filters;
  const grid = flatGrid(count);
  const [target, source] = direction === 'concatenate' ? ['i', 'grouped'] : ['grouped', 'i'];
  const code = `${declareAll(BINDINGS)}
const K = ${u32(attrs.experts)};
const F = ${u32(attrs.filters)};
const P = ${u32(attrs.rows)};
${flatMain(grid)}
  if (i >= ${u32(count)}) { return; }
  let o = i % F;
  let s = (i / F) % K;
  let p = i / (K * F);
  let grouped = (s * P + p) * F + o;
  result[${target}] = values[${source}];
}
`;
  return { name: `expert-channels ${direction} ${attrs.rows}x${attrs.experts}x${attrs.filters}`, code, bindings: BINDINGS, workgroups: grid };
}
