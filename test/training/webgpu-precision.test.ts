import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { convFilterGradientKernels } from '../../src/kernels/wgsl/conv-filter-gradient.js';
import { convForwardKernel } from '../../src/kernels/wgsl/conv-forward.js';
import { convInputGradientKernels } from '../../src/kernels/wgsl/conv-input-gradient.js';
import { planKernels, type GpuCapabilities } from '../../src/training/webgpu/precision.js';

const NVIDIA_LIKE: GpuCapabilities = {
  features: ['chromium-experimental-subgroup-matrix', 'shader-f16', 'subgroups', 'timestamp-query'],
  subgroupMatrixConfigs: [
    { componentType: 'f16', resultComponentType: 'f16', M: 16, N: 16, K: 16 },
    { componentType: 'f16', resultComponentType: 'f32', M: 8, N: 8, K: 8 },
    { componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 },
  ],
  subgroupMaxSize: 32,
  software: false,
};

describe("pmoe's WebGPU step: which kernels each precision runs (precision.ts)", () => {
  it('fp32 everywhere; mixed on the f16 -> f32 subgroup-matrix shape with the most work', () => {
    assert.equal(planKernels('fp32', NVIDIA_LIKE).precision, 'fp32');
    const mixed = planKernels('mixed', NVIDIA_LIKE);
    assert.equal(mixed.precision, 'mixed');
    assert.deepEqual(mixed.matrix, { componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16, subgroupSize: 32 });
  });

  it('mixed falls back to fp32 and says what the adapter lacks', () => {
    const cases: [Partial<GpuCapabilities>, RegExp][] = [
      [{ features: ['subgroups'] }, /no shader-f16/],
      [{ features: ['shader-f16', 'subgroups'] }, /no chromium-experimental-subgroup-matrix/],
      [{ subgroupMatrixConfigs: [{ componentType: 'f16', resultComponentType: 'f16', M: 16, N: 16, K: 16 }] }, /no f16 x f16 -> f32/],
      [{ subgroupMaxSize: undefined }, /no subgroup size/],
    ];
    for (const [change, reason] of cases) {
      const plan = planKernels('mixed', { ...NVIDIA_LIKE, ...change });
      assert.equal(plan.precision, 'fp32');
      assert.match(plan.fallback ?? '', reason);
      assert.equal(plan.matrix, undefined);
    }
  });

  it('the mixed convolutions are subgroup-matrix WGSL: one subgroup per workgroup, f16 tiles, the gradient scale bound (SwiftShader cannot compile them)', () => {
    const matrix = { ...planKernels('mixed', NVIDIA_LIKE).matrix! };
    const shape = { batch: 4, inHeight: 8, inWidth: 8, inChannels: 32, outChannels: 40, kernelSize: 3, stride: 2, padding: 'same' as const };
    const forward = convForwardKernel(shape, { matrix });
    assert.match(forward.code, /enable chromium_experimental_subgroup_matrix;/);
    assert.match(forward.code, /@workgroup_size\(32\)/);
    assert.match(forward.code, /subgroupMatrixMultiplyAccumulate/);
    assert.match(forward.code, /var<workgroup> tileA: array<f16, 2048>;/);
    assert.deepEqual(forward.workgroups, [1, 1, 1]);
    assert.deepEqual(
      forward.bindings.map((b) => b.name),
      ['x', 'w', 'bias', 'y'],
    );
    for (const kernel of [...convInputGradientKernels(shape, false, { matrix }), convFilterGradientKernels(shape, 1, { matrix }).product]) {
      assert.equal(kernel.bindings.at(-1)?.name, 'gradScale', kernel.name);
      assert.match(kernel.code, /gradScale\[0\]/);
    }
    // fp32 kernels bind no scale.
    assert.equal(convInputGradientKernels(shape)[0].bindings.length, 3);
  });
});
