/**
 * The gradient of y = ReLU(BN(x)) in training mode (batch statistics), x, y and dy [P, C]:
 *   dz = dy [y > 0],  xhat = (x - mean) invstd,
 *   dbeta = sum_p dz,  dgamma = sum_p dz xhat,
 *   dx = gamma invstd (dz - dbeta / P - xhat dgamma / P)
 * (the mean and variance's own gradients folded in). Sums first (channel-reduction.ts), then dx,
 * written or, with `accumulate`, added to what another reader of x put there.
 */
import { channelReduction } from './channel-reduction.js';
import { checkSizes, declareAll, f32, flatGrid, flatMain, u32, type WgslKernel } from './kernel.js';

const SUM_BINDINGS = [
  { name: 'x', kind: 'read' },
  { name: 'y', kind: 'read' },
  { name: 'dy', kind: 'read' },
  { name: 'stats', kind: 'read' },
  { name: 'dgamma', kind: 'write' },
  { name: 'dbeta', kind: 'write' },
] as const;

const DX_BINDINGS = [
  { name: 'x', kind: 'read' },
  { name: 'y', kind: 'read' },
  { name: 'dy', kind: 'read' },
  { name: 'stats', kind: 'read' },
  { name: 'gamma', kind: 'read' },
  { name: 'dgamma', kind: 'read' },
  { name: 'dbeta', kind: 'read' },
  { name: 'dx', kind: 'write' },
] as const;

export interface BatchNormReluGradientKernels {
  /** Bind x, y, dy, stats, dgamma, dbeta, then partials of `partialFloats`. */
  readonly sums: [WgslKernel, WgslKernel];
  readonly partialFloats: number;
  /** Binds x, y, dy, stats, gamma, dgamma, dbeta, dx. */
  readonly inputGradient: WgslKernel;
}

export function batchNormReluGradientKernels(attrs: { rows: number; channels: number; accumulate?: boolean }): BatchNormReluGradientKernels {
  checkSizes('batch-norm-relu-gradient', { rows: attrs.rows, channels: attrs.channels });
  const reduction = channelReduction({
    name: 'batch-norm-relu-gradient',
    rows: attrs.rows,
    channels: attrs.channels,
    bindings: SUM_BINDINGS,
    prelude: 'let dz = select(0.0, dy[at], y[at] > 0.0);',
    terms: ['dz', 'dz * (x[at] - stats[c]) * stats[C + c]'],
    finish: 'dbeta[c] = total0;\ndgamma[c] = total1;',
  });
  const count = attrs.rows * attrs.channels;
  const grid = flatGrid(count);
  const code = `${declareAll(DX_BINDINGS)}
const C = ${u32(attrs.channels)};
const INV_ROWS = ${f32(1 / attrs.rows)};
${flatMain(grid)}
  if (i >= ${u32(count)}) { return; }
  let c = i % C;
  let dz = select(0.0, dy[i], y[i] > 0.0);
  let xhat = (x[i] - stats[c]) * stats[C + c];
  let v = gamma[c] * stats[C + c] * (dz - (dbeta[c] + xhat * dgamma[c]) * INV_ROWS);
  dx[i] = ${attrs.accumulate ? 'dx[i] + v' : 'v'};
}
`;
  const inputGradient = {
    name: `batch-norm-relu-gradient dx ${attrs.rows}x${attrs.channels}${attrs.accumulate ? ' +=' : ''}`,
    code,
    bindings: DX_BINDINGS,
    workgroups: grid,
  };
  return { sums: [reduction.partial, reduction.finish], partialFloats: reduction.partialFloats, inputGradient };
}
