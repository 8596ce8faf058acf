import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

describe('bench/step-profile', () => {
  it('prints one JSON object with each step split into issue and wait, the kernels by name, and writes a CPU profile', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmoe-step-profile-'));
    try {
      const script = fileURLToPath(new URL('../../bench/step-profile.js', import.meta.url));
      const cpuProfile = join(dir, 'steps.cpuprofile');
      const args = [script, '--backend', 'cpu', '--widening', '1', '--batch', '4', '--steps', '2', '--cpu-profile', cpuProfile];
      const run = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000 });
      assert.equal(run.status, 0, run.stderr);
      const result = JSON.parse(run.stdout) as {
        backend: string;
        steps: { issueMs: number; waitMs: number }[];
        kernels: { name: string; calls: number }[];
        kernelsPerStep: number;
      };
      assert.equal(result.backend, 'cpu');
      assert.equal(result.steps.length, 2);
      assert.ok(result.steps.every((s) => s.issueMs > 0 && s.waitMs >= 0));
      // A WRN-pMoE step convolves and routes.
      assert.ok(result.kernels.some((k) => /Conv2D/.test(k.name)) && result.kernelsPerStep > 100, JSON.stringify(result.kernels));
      const profile = JSON.parse(readFileSync(cpuProfile, 'utf8')) as { nodes: unknown[]; samples: unknown[] };
      assert.ok(profile.nodes.length > 0 && profile.samples.length > 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
