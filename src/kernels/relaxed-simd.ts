import { gemmModuleBytes } from './simd-gemm.js';
import { nodeBuiltin } from '../util/node-builtin.js';

/**
 * Opts in to relaxed SIMD, whose fused multiply-add nearly halves the time of pmoe's matrix
 * products. Node 20's V8 validates those instructions only behind the process-wide flag
 * --experimental-wasm-relaxed-simd, which this sets (later V8s ship them: nothing to set). Call it
 * before the first product is computed (the kernels choose once); without it pmoe uses a separate
 * multiply and add. Returns whether relaxed SIMD validates now. The `pmoe` command calls it.
 */
export function enableRelaxedSimd(): boolean {
  if (typeof WebAssembly !== 'object') return false;
  const bytes = gemmModuleBytes(true);
  if (WebAssembly.validate(bytes)) return true;
  nodeBuiltin<typeof import('node:v8')>('node:v8')?.setFlagsFromString('--experimental-wasm-relaxed-simd');
  return WebAssembly.validate(bytes);
}
