import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { checkTfjsVersions, TFJS_VERSION, TfjsVersionError } from '../../src/ops/tfjs-versions.js';

const coreEntry = new URL('../../src/index.js', import.meta.url).href;
const simdGemm = new URL('../../src/kernels/simd-gemm.js', import.meta.url).href;

describe('installing pmoe kernels (ops/fast-kernels.ts)', () => {
  it('importing the core entry changes no kernel or gradient; useFastKernels lists what it changes and restore() puts every one back', async () => {
    await import('@tensorflow/tfjs-backend-wasm');
    const conv = tf.getKernel('Conv2D', 'wasm');
    const relu = tf.getGradient('Relu');
    const core = await import(coreEntry);
    assert.equal(tf.getKernel('Conv2D', 'wasm')?.kernelFunc, conv?.kernelFunc);
    assert.equal(tf.getGradient('Relu'), relu);
    assert.equal(tf.getKernel('PmoeExpertChoice', 'cpu'), undefined);

    for (let round = 0; round < 2; round++) {
      const handle = await core.useFastKernels();
      assert.equal(await core.useFastKernels(), handle, 'idempotent while installed');
      for (const key of ['wasm/Conv2D', 'wasm/BatchMatMul', 'wasm/GatherV2', 'gradient/Relu', 'gradient/FusedBatchNorm', 'gradient/Mean', 'gradient/Sum'])
        assert.ok(handle.replaced.includes(key), `${key} replaced`);
      for (const key of [
        'wasm/Conv2DBackpropFilter',
        'cpu/PmoeExpertChoice',
        'wasm/PmoeExpertOutputs',
        'wasm/PmoeMovingAverage',
        'gradient/TopK',
        'gradient/FusedConv2D',
      ])
        assert.ok(handle.added.includes(key), `${key} added`);
      assert.notEqual(tf.getKernel('Conv2D', 'wasm')?.kernelFunc, conv?.kernelFunc);
      assert.notEqual(tf.getGradient('Relu'), relu);
      if (round === 0) handle.restore();
      else core.restoreKernels();
      assert.equal(tf.getKernel('Conv2D', 'wasm')?.kernelFunc, conv?.kernelFunc);
      assert.equal(tf.getGradient('Relu'), relu);
      assert.equal(tf.getKernel('PmoeExpertChoice', 'cpu'), undefined);
      assert.equal(tf.getKernel('Conv2DBackpropFilter', 'wasm'), undefined);
      assert.equal(tf.getGradient('TopK'), undefined);
      assert.equal(tf.getGradient('FusedConv2D'), undefined);
    }
  });

  it('a tfjs release other than the pinned one is refused with both versions named', () => {
    assert.doesNotThrow(() => checkTfjsVersions({ '@tensorflow/tfjs-core': TFJS_VERSION }));
    assert.throws(
      () => checkTfjsVersions({ '@tensorflow/tfjs-core': TFJS_VERSION, '@tensorflow/tfjs-backend-wasm': '4.21.0' }),
      (error: Error) =>
        error instanceof TfjsVersionError &&
        error.message.includes(`needs TensorFlow.js ${TFJS_VERSION}`) &&
        error.message.includes('found @tensorflow/tfjs-backend-wasm 4.21.0') &&
        !error.message.includes('tfjs-core 4'),
    );
  });

  it('V8 flags stay as they are unless the user opts in, and training works without relaxed SIMD', () => {
    const script = (optIn: boolean) => `
      const core = await import(${JSON.stringify(coreEntry)});
      const { fusedMultiplyAdd, gemmModuleBytes } = await import(${JSON.stringify(simdGemm)});
      const shippedByV8 = WebAssembly.validate(gemmModuleBytes(true));
      await core.initEngine('wasm', { relaxedSimd: ${optIn} });
      const { train, test } = core.makeSyntheticSplit({ seed: 1 }, 20, 20);
      const result = core.trainModel({}, train, test, { model: 'joint', epochs: 1 });
      result.model.dispose();
      console.log(JSON.stringify({ shippedByV8, fused: fusedMultiplyAdd(), accuracy: result.epochs.at(-1).testAccuracy }));
    `;
    const runWith = (optIn: boolean) => {
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script(optIn)], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(child.status, 0, child.stderr);
      return JSON.parse(child.stdout) as { shippedByV8: boolean; fused: boolean; accuracy: number };
    };
    const without = runWith(false);
    assert.ok(without.accuracy >= 0 && without.accuracy <= 1);
    assert.equal(without.fused, without.shippedByV8, 'no flag set: fused multiply-adds only where V8 ships them');
    assert.equal(runWith(true).fused, true);
  });
});
