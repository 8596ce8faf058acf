import { tf } from '../src/engine/backend.js';
import { matmulFlops } from './flops.js';
import type { Workload } from './workload.js';

/**
 * The machine's ceiling as each engine reaches it: one large 2-D matrix product,
 * [2048, 784] x [784, 256] (2 * 2048 * 784 * 256 = 822 MFLOP), tfjs's tf.matMul on the wasm
 * backend (XNNPACK) for pmoe and torch.matmul for the peer.
 */
export const CEILING_SHAPE = { rows: 2048, inner: 784, cols: 256 } as const;

export function ceilingWorkload(): Workload {
  const { rows, inner, cols } = CEILING_SHAPE;
  const a = tf.randomUniform([rows, inner], 0, 1, 'float32', 1) as tf.Tensor2D;
  const b = tf.randomUniform([inner, cols], 0, 1, 'float32', 2) as tf.Tensor2D;
  return {
    id: 'ceiling',
    title: `matmul ${rows}x${inner} . ${inner}x${cols}`,
    flops: matmulFlops(rows, inner, cols),
    training: false,
    torch: { kind: 'matmul', config: { m: rows, k: inner, n: cols } },
    step: () => {
      tf.matMul(a, b).dispose();
    },
    output: () => new Float32Array(0),
    dispose: () => tf.dispose([a, b]),
  };
}
