/** Global average pooling of x [batch, P, C] (P = H W) to [batch, C], and its gradient dx = dpooled / P at every position. */
import { declareAll, f32, flatGrid, flatMain, u32, type WgslKernel } from './kernel.js';

export interface PoolAttrs {
  readonly batch: number;
  /** H W. */
  readonly positions: number;
  readonly channels: number;
}

const FORWARD = [
  { name: 'x', kind: 'read' },
  { name: 'pooled', kind: 'write' },
] as const;

const GRADIENT = [
  { name: 'dpooled', kind: 'read' },
  { name: 'dx', kind: 'write' },
] as const;

export function globalAveragePoolKernel(attrs: PoolAttrs): WgslKernel {
  const count = attrs.batch * attrs.channels;
  const grid = flatGrid(count);
  const code = `${declareAll(FORWARD)}
const P = ${u32(attrs.positions)};
const C = ${u32(attrs.channels)};
${flatMain(grid)}
  if (i >= ${u32(count)}) { return; }
  let b = i / C;
  let c = i % C;
  var total = 0.0;
  for (var p = 0u; p < P; p = p + 1u) { total = total + x[(b * P + p) * C + c]; }
  pooled[i] = total / f32(P);
}
`;
  return { name: `global-average-pool ${attrs.batch}x${attrs.positions}x${attrs.channels}`, code, bindings: FORWARD, workgroups: grid };
}

export function globalAveragePoolGradientKernel(attrs: PoolAttrs, accumulate = false): WgslKernel {
  const count = attrs.batch * attrs.positions * attrs.channels;
  const grid = flatGrid(count);
  const code = `${declareAll(GRADIENT)}
const P = ${u32(attrs.positions)};
const C = ${u32(attrs.channels)};
${flatMain(grid)}
  if (i >= ${u32(count)}) { return; }
  let v = dpooled[(i / (P * C)) * C + i % C] * ${f32(1 / attrs.positions)};
  dx[i] = ${accumulate ? 'dx[i] + v' : 'v'};
}
`;
  return { name: `global-average-pool-gradient ${attrs.batch}x${attrs.positions}x${attrs.channels}`, code, bindings: GRADIENT, workgroups: grid };
}
