/** Batch norm with ReLU fused: y = max(0, (x - mean) invstd gamma + beta), x and y [P, C], stats = [mean, invstd]. */
import { declareAll, flatGrid, flatMain, u32, type WgslKernel } from './kernel.js';

const BINDINGS = [
  { name: 'x', kind: 'read' },
  { name: 'stats', kind: 'read' },
  { name: 'gamma', kind: 'read' },
  { name: 'beta', kind: 'read' },
  { name: 'y', kind: 'write' },
] as const;

export function batchNormReluKernel(attrs: { rows: number; channels: number }): WgslKernel {
  const count = attrs.rows * attrs.channels;
  const grid = flatGrid(count);
  const code = `${declareAll(BINDINGS)}
const C = ${u32(attrs.channels)};
${flatMain(grid)}
  if (i >= ${u32(count)}) { return; }
  let c = i % C;
  y[i] = max(0.0, (x[i] - stats[c]) * stats[C + c] * gamma[c] + beta[c]);
}
`;
  return { name: `batch-norm-relu ${attrs.rows}x${attrs.channels}`, code, bindings: BINDINGS, workgroups: grid };
}
