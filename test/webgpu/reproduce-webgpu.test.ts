import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { releaseWebgpu } from '../../src/engine/webgpu/dawn.js';
import { BIN } from '../support/pmoe-cli.js';
import { webgpuSkipReason } from '../support/webgpu-adapter.js';

const run = promisify(execFile);

interface Line {
  record: {
    model: { architecture: string };
    backend: string;
    finalTestAccuracy: number;
    webgpuStep?: { precision: string; counters: { submissions: number; reads: number } };
    steps: number;
  };
}

/** A short wrn-mnist sweep (both models, one seed) on a backend; its records by architecture. */
async function sweep(dir: string, backend: string): Promise<Map<string, Line['record']>> {
  const out = join(dir, `${backend}.jsonl`);
  const settings = ['sizes=[60]', 'testSize=100', 'epochs=2', 'batchSize=20', 'seeds=1'];
  const args = [BIN, 'reproduce', 'wrn-mnist', '--backend', backend, '--jobs', '1', '--out', out, '--json', ...settings.flatMap((s) => ['--set', s])];
  await run(process.execPath, args, { env: { ...process.env, PMOE_WEBGPU_SOFTWARE: '1' }, maxBuffer: 1 << 24, timeout: 1_800_000 });
  const lines = (await readFile(out, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Line);
  return new Map(lines.map((line) => [line.record.model.architecture, line.record]));
}

describe("pmoe reproduce wrn-mnist --backend webgpu (pmoe's WebGPU step)", async () => {
  const skip = await webgpuSkipReason();
  // The sweeps run in child processes; this one only checked that the adapter is there.
  after(() => releaseWebgpu());
  it('gives the final test accuracies wasm gives with the same seed (within 0.02), one submission per step and reads only per epoch', { skip }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-reproduce-webgpu-'));
    try {
      const [gpu, wasm] = await Promise.all([sweep(dir, 'webgpu'), sweep(dir, 'wasm')]);
      for (const architecture of ['wrn', 'wrn-pmoe']) {
        const [a, b] = [gpu.get(architecture)!, wasm.get(architecture)!];
        assert.equal(a.backend, 'webgpu');
        assert.equal(b.backend, 'wasm');
        assert.equal(a.webgpuStep?.precision, 'fp32', `${architecture} trained on pmoe's step`);
        // 2 epochs of 3 steps: one submission a step; per epoch one read of the metrics and one of the weights.
        assert.equal(a.webgpuStep?.counters.submissions, a.steps);
        assert.equal(a.webgpuStep?.counters.reads, 4);
        assert.ok(
          Math.abs(a.finalTestAccuracy - b.finalTestAccuracy) <= 0.02,
          `${architecture}: ${a.finalTestAccuracy} on webgpu, ${b.finalTestAccuracy} on wasm`,
        );
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
