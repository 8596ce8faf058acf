import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
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
      for (const key of ['wasm/Conv2DBackpropFilter', 'wasm/PmoeExpertOutputs', 'wasm/PmoeMovingAverage', 'gradient/TopK', 'gradient/FusedConv2D'])
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

  it('the library computes with fused multiply-adds by default, as the pmoe command does; relaxedSimd: false and PMOE_FMA=0 keep the separate multiply and add', () => {
    const script = (options: string) => `
      const core = await import(${JSON.stringify(coreEntry)});
      const { fusedMultiplyAdd, gemmModuleBytes } = await import(${JSON.stringify(simdGemm)});
      ${options === 'none' ? '' : `await core.initEngine('wasm', ${options});`}
      const { train, test } = core.makeSyntheticSplit({ seed: 1 }, 20, 20);
      const result = core.trainModel({}, train, test, { model: 'joint', epochs: 1 });
      result.model.dispose();
      let late = 'none';
      ${options === 'none' ? '' : `try { await core.initEngine('wasm', { relaxedSimd: false }); } catch (error) { late = error.message; }`}
      console.log(JSON.stringify({ validates: WebAssembly.validate(gemmModuleBytes(true)), fused: fusedMultiplyAdd(), accuracy: result.epochs.at(-1).testAccuracy, late }));
    `;
    // A script file, not --input-type=module -e: the wasm backend's thread workers inherit that flag and then fail to start.
    const dir = mkdtempSync(join(tmpdir(), 'pmoe-fma-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const runWith = (options: string, env: Record<string, string> = {}) => {
      const file = join(dir, `run-${options.length}-${Object.keys(env).length}.mjs`);
      writeFileSync(file, script(options));
      const child = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
      assert.equal(child.status, 0, `${options} ${JSON.stringify(env)}: ${child.stderr}`);
      return JSON.parse(child.stdout) as { validates: boolean; fused: boolean; accuracy: number; late: string };
    };
    const noInit = runWith('none');
    assert.ok(noInit.accuracy >= 0 && noInit.accuracy <= 1);
    if (!noInit.validates) return; // a runtime without relaxed SIMD even behind V8's flag: nothing to choose
    assert.equal(noInit.fused, true, 'without initEngine');
    const byDefault = runWith('{}');
    assert.equal(byDefault.fused, true, 'initEngine by default');
    assert.match(byDefault.late, /relaxedSimd: false comes too late/);
    assert.equal(byDefault.accuracy, noInit.accuracy);
    const off = runWith('{ relaxedSimd: false }');
    assert.equal(off.fused, false);
    assert.equal(off.late, 'none', 'asking again for what was chosen is fine');
    assert.equal(runWith('{}', { PMOE_FMA: '0' }).fused, false);
  });
});
