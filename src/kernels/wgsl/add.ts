/** y = a + b elementwise (a residual connection). */
import { declareAll, flatGrid, flatMain, u32, type WgslKernel } from './kernel.js';

const BINDINGS = [
  { name: 'a', kind: 'read' },
  { name: 'b', kind: 'read' },
  { name: 'y', kind: 'write' },
] as const;

export function addKernel(count: number): WgslKernel {
  const grid = flatGrid(count);
  const code = `${declareAll(BINDINGS)}
${flatMain(grid)}
  if (i >= ${u32(count)}) { return; }
  y[i] = a[i] + b[i];
}
`;
  return { name: `add ${count}`, code, bindings: BINDINGS, workgroups: grid };
}
