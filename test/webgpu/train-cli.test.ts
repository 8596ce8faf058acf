import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { releaseWebgpu } from '../../src/engine/webgpu/dawn.js';
import { webgpuSkipReason } from '../support/webgpu-adapter.js';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../../bin/pmoe.js', import.meta.url));

interface Record {
  backend: string;
  epochs: { testAccuracy: number; trainAccuracy: number }[];
}

async function train(backend: string, model: string): Promise<Record> {
  // Small: SwiftShader runs every kernel on the CPU.
  const args = [
    bin,
    'train',
    '--backend',
    backend,
    '--model',
    model,
    '--data',
    'synthetic',
    '--train-size',
    '40',
    '--test-size',
    '100',
    '--epochs',
    '3',
    '--router-epochs',
    '3',
    '--seed',
    '4',
    '--json',
  ];
  const { stdout } = await run(process.execPath, args, { env: { ...process.env, PMOE_WEBGPU_SOFTWARE: '1' }, maxBuffer: 1 << 24 });
  return JSON.parse(stdout) as Record;
}

describe('pmoe train --backend webgpu', async () => {
  const skip = await webgpuSkipReason();
  // The CLI runs in child processes; this one only checked that the adapter is there.
  after(() => releaseWebgpu());
  for (const model of ['cnn', 'separate', 'joint']) {
    it(`${model}: final accuracy within 0.05 of wasm with the same seed`, { skip }, async () => {
      const [gpu, wasm] = await Promise.all([train('webgpu', model), train('wasm', model)]);
      assert.equal(gpu.backend, 'webgpu');
      assert.equal(wasm.backend, 'wasm');
      const [a, b] = [gpu.epochs.at(-1)!, wasm.epochs.at(-1)!];
      assert.ok(Math.abs(a.testAccuracy - b.testAccuracy) <= 0.05, `test accuracy ${a.testAccuracy} on webgpu, ${b.testAccuracy} on wasm`);
      assert.ok(Math.abs(a.trainAccuracy - b.trainAccuracy) <= 0.05, `train accuracy ${a.trainAccuracy} on webgpu, ${b.trainAccuracy} on wasm`);
    });
  }
});
