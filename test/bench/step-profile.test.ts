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
      const args = [script, '--backend', 'wasm', '--widening', '1', '--batch', '4', '--steps', '2', '--cpu-profile', cpuProfile];
      // Generous: a hang, not a slow machine, should fail it.
      const run = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 600_000 });
      assert.equal(run.status, 0, run.stderr);
      const result = JSON.parse(run.stdout) as {
        backend: string;
        steps: { issueMs: number; waitMs: number }[];
        kernels: { name: string; calls: number }[];
        kernelsPerStep: number;
      };
      assert.equal(result.backend, 'wasm');
      assert.equal(result.steps.length, 2);
      // Times are only checked to be times: a coarse clock or a fast step can read 0.
      assert.ok(result.steps.every((s) => s.issueMs >= 0 && s.waitMs >= 0));
      // A WRN-pMoE step convolves and routes.
      assert.ok(result.kernels.some((k) => /Conv2D/.test(k.name)) && result.kernelsPerStep > 100, JSON.stringify(result.kernels));
      const profile = JSON.parse(readFileSync(cpuProfile, 'utf8')) as { nodes: unknown[]; samples: unknown[] };
      assert.ok(profile.nodes.length > 0 && profile.samples.length > 0);
      assert.equal('convolutionsAlone' in result, false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--convs times every convolution alone, skipping the input gradient of the one reading the images', () => {
    const script = fileURLToPath(new URL('../../bench/step-profile.js', import.meta.url));
    const args = [script, '--backend', 'wasm', '--widening', '1', '--batch', '2', '--channels', '3', '--steps', '1', '--convs', '--repeats', '2'];
    const run = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 0, run.stderr);
    const { convolutionsAlone } = JSON.parse(run.stdout) as {
      convolutionsAlone: {
        layers: { name: string; formula: string; forwardMs: number; inputGradientMs: number | null; filterGradientMs: number; gflops: number | null }[];
        totalMs: number;
      };
    };
    // WRN-pMoE at w = 1: the stem, two convs in each of the first two blocks, block 2's projection, block 3's first conv.
    assert.deepEqual(
      convolutionsAlone.layers.map((l) => l.name),
      ['stem_conv', 'block1_conv1', 'block1_conv2', 'block2_conv1', 'block2_shortcut', 'block2_conv2', 'block3_conv1'],
    );
    assert.match(convolutionsAlone.layers[0].formula, /^conv 3x3 3->16 stride 1 on 32x32/);
    assert.equal(convolutionsAlone.layers[0].inputGradientMs, null);
    // Times are only checked to be times: a 1x1 convolution at batch 2 can read 0.0 ms.
    const isTime = (ms: number | null) => typeof ms === 'number' && Number.isFinite(ms) && ms >= 0;
    for (const layer of convolutionsAlone.layers.slice(1)) assert.ok(isTime(layer.inputGradientMs), layer.name);
    for (const layer of convolutionsAlone.layers) {
      assert.ok(isTime(layer.forwardMs) && isTime(layer.filterGradientMs), layer.name);
      assert.ok(layer.gflops === null || layer.gflops >= 0, `${layer.name}: gflops ${layer.gflops}`);
    }
    const sum = convolutionsAlone.layers.reduce((total, l) => total + l.forwardMs + (l.inputGradientMs ?? 0) + l.filterGradientMs, 0);
    assert.ok(Math.abs(convolutionsAlone.totalMs - sum) <= 0.15 * convolutionsAlone.layers.length + 0.05, `${convolutionsAlone.totalMs} vs ${sum}`);
  });
});
