import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { BIN } from '../support/pmoe-cli.js';

interface Listing {
  backends: {
    name: string;
    usable: boolean;
    reason?: string;
    adapter?: { software: boolean; features: string[]; subgroupMatrixConfigs: { componentType: string }[] };
    step?: { fp32: { precision: string }; mixed: { precision: string; fallback?: string } };
  }[];
  auto: string;
  autoTwoLayer: string;
}

function backends(env: Record<string, string | undefined>): Listing {
  const child = spawnSync(process.execPath, [BIN, 'backends', '--json'], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout) as Listing;
}

const byName = (listing: Listing, name: string) => listing.backends.find((b) => b.name === name);

describe('pmoe backends --json', () => {
  it('lists wasm, cpu and webgpu; wasm and cpu start here; a backend that does not gives one line why', () => {
    const listing = backends({ PMOE_WEBGPU_SOFTWARE: undefined });
    assert.deepEqual(listing.backends.map((b) => b.name).slice(0, 3), ['wasm', 'cpu', 'webgpu']);
    assert.equal(byName(listing, 'wasm')?.usable, true);
    assert.equal(byName(listing, 'cpu')?.usable, true);
    for (const b of listing.backends) if (!b.usable) assert.match(b.reason ?? '', /^[^\n]+$/, `${b.name} says why`);
    // auto takes a GPU only when one with a hardware adapter starts.
    const gpu = byName(listing, 'webgpu');
    assert.equal(listing.auto, gpu?.usable && !gpu.adapter?.software ? 'webgpu' : 'wasm');
    // The two-layer models stay off the GPU under auto.
    assert.equal(listing.autoTwoLayer, 'wasm');
  });

  it('with PMOE_WEBGPU_SOFTWARE=1, webgpu runs on a software adapter, which auto never picks', (t) => {
    const listing = backends({ PMOE_WEBGPU_SOFTWARE: '1' });
    const gpu = byName(listing, 'webgpu');
    if (!gpu?.usable) {
      // Without a Vulkan driver (CI installs SwiftShader through Debian's chromium), the reason is all there is to check.
      if (process.env.PMOE_REQUIRE_WEBGPU === '1' || existsSync('/usr/bin/chromium')) assert.fail(`webgpu did not start: ${gpu?.reason}`);
      return t.skip(`no software Vulkan driver here: ${gpu?.reason}`);
    }
    if (gpu.adapter?.software) assert.equal(listing.auto, 'wasm');
    // The adapter's features, and what pmoe's step runs there: fp32, and mixed falling back where f16 or subgroup matrices are missing.
    assert.ok(Array.isArray(gpu.adapter?.features) && gpu.adapter.features.length > 0);
    assert.ok(Array.isArray(gpu.adapter?.subgroupMatrixConfigs));
    assert.equal(gpu.step?.fp32.precision, 'fp32');
    const mixed = gpu.step?.mixed;
    if (gpu.adapter.features.includes('shader-f16') && gpu.adapter.subgroupMatrixConfigs.some((c) => c.componentType === 'f16'))
      assert.equal(mixed?.precision, 'mixed');
    else assert.match(mixed?.fallback ?? '', /^the adapter has no /);
    const text = spawnSync(process.execPath, [BIN, 'backends'], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, PMOE_WEBGPU_SOFTWARE: '1' },
    }).stdout;
    assert.match(text, /^ +features: .*subgroups/m);
    assert.match(text, /^ +pmoe's WRN step: fp32 WGSL/m);
  });
});
