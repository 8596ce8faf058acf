import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { FailureCause } from '../../src/experiments/failure.js';
import { appendResult } from '../../src/experiments/results-file.js';
import { scalingSchema, scalingSpec, SCALING_QUICK } from '../../src/experiments/scaling.js';
import { runKey } from '../../src/experiments/shard.js';
import { parseOptions } from '../../src/util/options.js';
import { BIN } from '../support/pmoe-cli.js';

/** `pmoe scaling --report-only --json` on a results file holding failed runs of the given causes. */
function scalingOn(dir: string, name: string, causes: readonly FailureCause[]) {
  const settings = parseOptions(scalingSchema, SCALING_QUICK, 'scaling');
  const path = join(dir, `${name}.jsonl`);
  causes.forEach((cause, seed) => {
    const spec = scalingSpec(settings, { model: 'cnn', n: settings.patchCounts[0], l: null }, settings.low, seed);
    appendResult(path, { key: runKey(spec), experiment: 'scaling', status: 'failed', spec, error: `a ${cause}`, cause });
  });
  const child = spawnSync(
    process.execPath,
    [BIN, 'scaling', '--quick', '--report-only', '--out', path, '--report-dir', join(dir, `${name}-report`), '--json'],
    {
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  return { status: child.status, stderr: child.stderr, summary: JSON.parse(child.stdout) as { failedByCause: Record<string, number> } };
}

describe('pmoe scaling with failed runs', () => {
  const work = mkdtemp(join(tmpdir(), 'pmoe-scaling-failures-'));
  after(async () => rm(await work, { recursive: true, force: true }));

  it('exits 1 and counts them by cause when a rerun can change them (a crash, a kill)', async () => {
    const { status, stderr, summary } = scalingOn(await work, 'crashed', ['crash', 'killed', 'divergence']);
    assert.equal(status, 1, stderr);
    assert.deepEqual(summary.failedByCause, { crash: 1, killed: 1, divergence: 1 });
  });

  it('exits 0 when the only failures are divergences: runs that missed the target', async () => {
    const { status, stderr, summary } = scalingOn(await work, 'diverged', ['divergence']);
    assert.equal(status, 0, stderr);
    assert.deepEqual(summary.failedByCause, { divergence: 1 });
  });
});
