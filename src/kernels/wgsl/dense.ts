/**
 * A fully connected layer, logits [batch, units] = x [batch, in] W [in, units] + bias, and its
 * gradients: dW = x^T dlogits and dbias = sum_b dlogits (one kernel: row `in` of its output grid is
 * the bias), dx = dlogits W^T. The head of the image models: a few thousand products, one thread each.
 */
import { checkSizes, declareAll, flatGrid, flatMain, u32, type WgslKernel } from './kernel.js';

export interface DenseAttrs {
  readonly batch: number;
  readonly inputs: number;
  readonly units: number;
}

const FORWARD = [
  { name: 'x', kind: 'read' },
  { name: 'w', kind: 'read' },
  { name: 'bias', kind: 'read' },
  { name: 'y', kind: 'write' },
] as const;

const WEIGHT_GRADIENT = [
  { name: 'x', kind: 'read' },
  { name: 'dy', kind: 'read' },
  { name: 'dw', kind: 'write' },
  { name: 'dbias', kind: 'write' },
] as const;

const INPUT_GRADIENT = [
  { name: 'dy', kind: 'read' },
  { name: 'w', kind: 'read' },
  { name: 'dx', kind: 'write' },
] as const;

const constants = (a: DenseAttrs) => `const B = ${u32(a.batch)};
const IN = ${u32(a.inputs)};
const UNITS = ${u32(a.units)};`;

export function denseKernel(attrs: DenseAttrs): WgslKernel {
  checkSizes('dense', { ...attrs });
  const count = attrs.batch * attrs.units;
  const grid = flatGrid(count);
  const code = `${declareAll(FORWARD)}
${constants(attrs)}
${flatMain(grid)}
  if (i >= ${u32(count)}) { return; }
  let b = i / UNITS;
  let j = i % UNITS;
  var total = bias[j];
  for (var c = 0u; c < IN; c = c + 1u) { total = total + x[b * IN + c] * w[c * UNITS + j]; }
  y[i] = total;
}
`;
  return { name: `dense ${attrs.batch}x${attrs.inputs} -> ${attrs.units}`, code, bindings: FORWARD, workgroups: grid };
}

/** dW [in, units] and dbias [units]. */
export function denseWeightGradientKernel(attrs: DenseAttrs): WgslKernel {
  const count = (attrs.inputs + 1) * attrs.units;
  const grid = flatGrid(count);
  const code = `${declareAll(WEIGHT_GRADIENT)}
${constants(attrs)}
${flatMain(grid)}
  if (i >= ${u32(count)}) { return; }
  let c = i / UNITS;
  let j = i % UNITS;
  var total = 0.0;
  if (c == IN) {
    for (var b = 0u; b < B; b = b + 1u) { total = total + dy[b * UNITS + j]; }
    dbias[j] = total;
  } else {
    for (var b = 0u; b < B; b = b + 1u) { total = total + x[b * IN + c] * dy[b * UNITS + j]; }
    dw[i] = total;
  }
}
`;
  return { name: `dense-weight-gradient ${attrs.batch}x${attrs.inputs} -> ${attrs.units}`, code, bindings: WEIGHT_GRADIENT, workgroups: grid };
}

/** dx [batch, in]. */
export function denseInputGradientKernel(attrs: DenseAttrs): WgslKernel {
  const count = attrs.batch * attrs.inputs;
  const grid = flatGrid(count);
  const code = `${declareAll(INPUT_GRADIENT)}
${constants(attrs)}
${flatMain(grid)}
  if (i >= ${u32(count)}) { return; }
  let b = i / IN;
  let c = i % IN;
  var total = 0.0;
  for (var j = 0u; j < UNITS; j = j + 1u) { total = total + dy[b * UNITS + j] * w[c * UNITS + j]; }
  dx[i] = total;
}
`;
  return { name: `dense-input-gradient ${attrs.batch}x${attrs.inputs} -> ${attrs.units}`, code, bindings: INPUT_GRADIENT, workgroups: grid };
}
