/** Plain SGD over all trainable weights at once (one buffer, the gradients in the same layout): w <- w - learningRate g. */
import { declareAll, f32, flatGrid, flatMain, u32, type WgslKernel } from './kernel.js';

const BINDINGS = [
  { name: 'weights', kind: 'write' },
  { name: 'gradients', kind: 'read' },
] as const;

export function sgdKernel(attrs: { count: number; learningRate: number }): WgslKernel {
  const grid = flatGrid(attrs.count);
  const code = `${declareAll(BINDINGS)}
${flatMain(grid)}
  if (i >= ${u32(attrs.count)}) { return; }
  weights[i] = weights[i] - ${f32(attrs.learningRate)} * gradients[i];
}
`;
  return { name: `sgd ${attrs.count}`, code, bindings: BINDINGS, workgroups: grid };
}
