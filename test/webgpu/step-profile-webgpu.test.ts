import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { releaseWebgpu } from '../../src/engine/webgpu/dawn.js';
import { webgpuSkipReason } from '../support/webgpu-adapter.js';

describe('bench/step-profile --backend webgpu', async () => {
  const skip = await webgpuSkipReason();
  // The profile runs in a child process; this one only checked that the adapter is there.
  after(() => releaseWebgpu());
  it("pmoe's step: one queue submission, no buffer reads and the whole program of dispatches per step, counted on the device", { skip }, () => {
    const script = fileURLToPath(new URL('../../bench/step-profile.js', import.meta.url));
    const args = [script, '--backend', 'webgpu', '--widening', '1', '--batch', '2', '--steps', '2', '--input-size', '8', '--channels', '3'];
    const run = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 900_000, env: { ...process.env, PMOE_WEBGPU_SOFTWARE: '1' } });
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout) as {
      step: string;
      steps: { issueMs: number; waitMs: number; submissions: number; dispatches: number; reads: number }[];
      dispatchesPerStep: number;
      imagesPerSecond: number;
    };
    assert.equal(result.step, 'pmoe');
    assert.equal(result.steps.length, 2);
    assert.ok(result.dispatchesPerStep > 100, `${result.dispatchesPerStep} dispatches`);
    for (const step of result.steps) {
      assert.equal(step.submissions, 1);
      assert.equal(step.reads, 0);
      assert.equal(step.dispatches, result.dispatchesPerStep);
      assert.ok(step.issueMs >= 0 && step.waitMs >= 0);
    }
    assert.ok(result.imagesPerSecond > 0);
  });
});
