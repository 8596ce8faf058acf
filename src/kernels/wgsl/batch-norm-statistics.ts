/**
 * Batch norm's training statistics over the rows of x [P, C] (P = batch H W): mean_c = sum_p x / P,
 * then var_c = sum_p (x - mean_c)^2 / P (biased, as tf.moments; two passes, so no cancellation),
 * into stats = [mean (C), 1 / sqrt(var + epsilon) (C)]; and the moving averages, as tfjs-layers
 * updates them: moving <- moving - (moving - batch value) (1 - momentum).
 */
import { channelReduction } from './channel-reduction.js';
import { checkSizes, f32, type WgslKernel } from './kernel.js';

export interface BatchNormStatisticsAttrs {
  readonly rows: number;
  readonly channels: number;
  readonly momentum: number;
  readonly epsilon: number;
}

const BINDINGS = [
  { name: 'x', kind: 'read' },
  { name: 'stats', kind: 'write' },
  { name: 'movingMean', kind: 'write' },
  { name: 'movingVariance', kind: 'write' },
] as const;

/** Four kernels to run in order; each binds x, stats, moving mean, moving variance, then a partials buffer of `partialFloats`. */
export function batchNormStatisticsKernels(attrs: BatchNormStatisticsAttrs): { kernels: WgslKernel[]; partialFloats: number } {
  checkSizes('batch-norm-statistics', { rows: attrs.rows, channels: attrs.channels });
  const decay = f32(1 - attrs.momentum);
  const name = 'batch-norm-statistics';
  const mean = channelReduction({
    name: `${name} mean`,
    rows: attrs.rows,
    channels: attrs.channels,
    bindings: BINDINGS,
    terms: ['x[at]'],
    finish: `stats[c] = total0 / f32(ROWS);`,
  });
  const variance = channelReduction({
    name: `${name} variance`,
    rows: attrs.rows,
    channels: attrs.channels,
    bindings: BINDINGS,
    prelude: 'let d = x[at] - stats[c];',
    terms: ['d * d'],
    finish: `let variance = total0 / f32(ROWS);
stats[C + c] = inverseSqrt(variance + ${f32(attrs.epsilon)});
movingMean[c] = movingMean[c] - (movingMean[c] - stats[c]) * ${decay};
movingVariance[c] = movingVariance[c] - (movingVariance[c] - variance) * ${decay};`,
  });
  return { kernels: [mean.partial, mean.finish, variance.partial, variance.finish], partialFloats: Math.max(mean.partialFloats, variance.partialFloats) };
}
