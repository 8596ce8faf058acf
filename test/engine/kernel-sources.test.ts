import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import wabtInit from 'wabt';
import { moduleBytes, type KernelModule } from '../../src/kernels/module-bytes.js';
import { gemmModuleBytes } from '../../src/engine/simd-gemm.js';
import { batchNormModuleBytes } from '../../src/engine/simd-batch-norm.js';

describe('kernels assembled from src/kernels/*.wat against the byte-built modules', () => {
  const previous: [KernelModule, Uint8Array][] = [
    ['gemm', gemmModuleBytes(undefined, false)],
    ['gemm-fma', gemmModuleBytes(undefined, true)],
    ['gemm-shared', gemmModuleBytes(16384, false)],
    ['gemm-fma-shared', gemmModuleBytes(16384, true)],
    ['batch-norm', batchNormModuleBytes()],
  ];
  for (const [name, bytes] of previous) {
    it(`${name}: the same module, byte for byte once both are re-encoded by wabt`, async () => {
      const wabt = await wabtInit();
      const features = { simd: true, relaxed_simd: true, threads: true };
      const canonical = (b: Uint8Array) => {
        const module = wabt.readWasm(b, { readDebugNames: false, check: false, ...features });
        try {
          return Buffer.from(module.toBinary({ canonicalize_lebs: true, write_debug_names: false }).buffer);
        } finally {
          module.destroy();
        }
      };
      assert.ok(canonical(moduleBytes(name)).equals(canonical(bytes)));
    });
  }
});
