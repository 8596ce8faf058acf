/** A bias's gradient: db[g][c] = sum over the rows p of dy[g][p, c] (each group's at `outGroupStride`). */
import { channelReduction, type ChannelReductionKernels } from './channel-reduction.js';
import { u32 } from './kernel.js';

const BINDINGS = [
  { name: 'dy', kind: 'read' },
  { name: 'db', kind: 'write' },
] as const;

/** Bind dy, db, then partials of `partialFloats`. */
export function biasGradientKernels(attrs: { rows: number; channels: number; groups?: number; outGroupStride?: number }): ChannelReductionKernels {
  return channelReduction({
    name: 'bias-gradient',
    rows: attrs.rows,
    channels: attrs.channels,
    groups: attrs.groups,
    bindings: BINDINGS,
    terms: ['dy[at]'],
    finish: `db[g * ${u32(attrs.outGroupStride ?? attrs.channels)} + c] = total0;`,
  });
}
