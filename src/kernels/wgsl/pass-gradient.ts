/**
 * Hands a gradient on unchanged (a sum's gradient to each of its inputs): out = dy, or with
 * `accumulate` out += dy where another reader of that input already put its share.
 */
import { declareAll, flatGrid, flatMain, u32, type WgslKernel } from './kernel.js';

const BINDINGS = [
  { name: 'dy', kind: 'read' },
  { name: 'out', kind: 'write' },
] as const;

export function passGradientKernel(count: number, accumulate: boolean): WgslKernel {
  const grid = flatGrid(count);
  const code = `${declareAll(BINDINGS)}
${flatMain(grid)}
  if (i >= ${u32(count)}) { return; }
  out[i] = ${accumulate ? 'out[i] + dy[i]' : 'dy[i]'};
}
`;
  return { name: `pass-gradient ${count}${accumulate ? ' +=' : ''}`, code, bindings: BINDINGS, workgroups: grid };
}
