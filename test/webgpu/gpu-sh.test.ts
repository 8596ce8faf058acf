import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { releaseWebgpu } from '../../src/engine/webgpu/dawn.js';
import { webgpuSkipReason } from '../support/webgpu-adapter.js';

interface GpuResult {
  tiny: boolean;
  adapter: { features: string[]; software: boolean };
  mixedCheck: { ran: boolean; reason?: string };
  cases: {
    model: string;
    shape: string;
    precision: string;
    imagesPerSecond: number;
    ratioToTorch: number | null;
    steps: { submissions: number; reads: number }[];
  }[];
}

describe('bench/gpu.sh in its tiny mode', async () => {
  const skip = await webgpuSkipReason();
  // The script runs in a child process; this one only checked that the adapter is there.
  after(() => releaseWebgpu());
  it('on SwiftShader: the adapter, the checks, a timed WRN-pMoE step beside PyTorch, one JSON file', { skip }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmoe-gpu-sh-'));
    try {
      const script = fileURLToPath(new URL('../../../bench/gpu.sh', import.meta.url));
      const run = spawnSync(script, [dir], { encoding: 'utf8', timeout: 1_800_000, env: { ...process.env, GPU_SH_TINY: '1', PMOE_WEBGPU_SOFTWARE: '1' } });
      assert.equal(run.status, 0, `${run.stderr}\n${existsSync(join(dir, 'gpu-bench.log')) ? readFileSync(join(dir, 'gpu-bench.log'), 'utf8') : ''}`);
      assert.match(readFileSync(join(dir, 'checks.out'), 'utf8'), /^# fail 0$/m);
      const result = JSON.parse(readFileSync(join(dir, 'gpu-tiny.json'), 'utf8')) as GpuResult;
      assert.equal(result.tiny, true);
      assert.ok(result.adapter.software && result.adapter.features.includes('subgroups'));
      // SwiftShader has no f16: the mixed check says why it did not run, and only fp32 is timed.
      assert.equal(result.mixedCheck.ran, false);
      assert.match(result.mixedCheck.reason ?? '', /shader-f16/);
      assert.equal(result.cases.length, 1);
      const [step] = result.cases;
      assert.deepEqual([step.model, step.shape, step.precision], ['wrn-pmoe', 'cifar', 'fp32']);
      assert.ok(step.imagesPerSecond > 0);
      assert.ok(step.steps.every((s) => s.submissions === 1 && s.reads === 0));
      // PyTorch beside it where Debian's python3 has torch (CI installs python3-torch).
      if (step.ratioToTorch !== null) assert.ok(step.ratioToTorch > 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
