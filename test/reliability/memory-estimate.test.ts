import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadData } from '../../src/data/source.js';
import { preflightRun } from '../../src/experiments/preflight.js';
import { runSweep } from '../../src/experiments/sweep.js';
import { estimateRunBytes, formatBytes, MEMORY_SAFETY_FACTOR, MemoryLimitError, memoryLimit } from '../../src/util/memory-estimate.js';
import { OptionError } from '../../src/util/options.js';

const MB = 2 ** 20;
const limit = (megabytes: number) => ({ bytes: megabytes * MB, source: `a test limit of ${megabytes} MB` });

describe('memory estimate', () => {
  it('counts float32 data and weights times the safety factor, plus raw file bytes', () => {
    assert.equal(estimateRunBytes({ samples: 1000, patchCount: 16, patchDim: 32 }), MEMORY_SAFETY_FACTOR * 4 * 1000 * 16 * 32);
    assert.equal(estimateRunBytes({ samples: 10, patchCount: 2, patchDim: 3, parameters: 40, fileBytes: 7 }), MEMORY_SAFETY_FACTOR * 4 * (60 + 40) + 7);
    assert.equal(formatBytes(512), '512 bytes');
    assert.equal(formatBytes(7 * MB), '7.0 MB');
    assert.equal(formatBytes(1.5 * 2 ** 40), '1.5 TB');
  });

  it('the limit is PMOE_MEMORY_LIMIT_MB when set, else half the machine; a bad value names the variable', () => {
    assert.deepEqual(memoryLimit({ PMOE_MEMORY_LIMIT_MB: '512' }), { bytes: 512 * MB, source: 'PMOE_MEMORY_LIMIT_MB=512' });
    assert.equal(memoryLimit({}).bytes, totalmem() / 2);
    for (const bad of ['0', '-5', 'lots']) {
      assert.throws(
        () => memoryLimit({ PMOE_MEMORY_LIMIT_MB: bad }),
        (error: unknown) => error instanceof OptionError && error.message.includes(`PMOE_MEMORY_LIMIT_MB: must be a number of megabytes > 0 (got '${bad}')`),
      );
    }
  });

  it('loadData refuses a huge synthetic or MNIST-patch set at once, before making or reading any data, with the estimate and the limit', async () => {
    for (const spec of [
      { source: 'synthetic' as const, trainSize: 1_000_000_000, testSize: 1000 },
      { source: 'mnist-patch' as const, trainSize: 10_000, testCount: 1000_000 },
    ]) {
      // Making these sets first would exhaust memory long before any check: the rejection shows it came first.
      await assert.rejects(loadData(spec, { memoryLimit: limit(4096) }), (error: unknown) => {
        assert.ok(error instanceof MemoryLimitError, String(error));
        assert.match(error.message, /would need about \d+\.\d (GB|TB) of memory .* over the limit of 4\.0 GB \(a test limit of 4096 MB\); use fewer samples/);
        assert.ok(error.message.includes(`${spec.trainSize} training`), error.message);
        return true;
      });
    }
  });

  it('a normal run passes and loads; a tight limit refuses it with its numbers', async () => {
    const spec = { source: 'synthetic' as const, trainSize: 20, testSize: 30, n: 4, d: 8 };
    const data = await loadData(spec, { memoryLimit: limit(64) });
    assert.equal(data.train.count, 20);
    const run = { data: spec, model: { neurons: 5 }, training: { model: 'cnn' as const } };
    // 50 samples of 4 x 8 values and 8 x 5 weights, 4 bytes each, times 3: 19,680 bytes.
    assert.equal(preflightRun(run, limit(64)), 19_680);
    assert.throws(
      () => preflightRun(run, limit(0.01)),
      /20 training \+ 30 test samples of 4 x 8 values\) would need about 19\.2 KB .* over the limit of 10\.2 KB/,
    );
  });

  it('a sweep with one run too big refuses before it writes a results file or starts a worker', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-memory-'));
    try {
      const path = join(dir, 'results', 'r.jsonl');
      const small = { data: { source: 'synthetic' as const, trainSize: 20, testSize: 20 }, training: { model: 'cnn' as const, epochs: 1 } };
      const huge = { ...small, data: { ...small.data, trainSize: 2_000_000_000 } };
      await assert.rejects(runSweep([small, huge], { experiment: 'memory', resultsPath: path, jobs: 1, backend: 'wasm' }), (error: unknown) => {
        assert.ok(error instanceof MemoryLimitError, String(error));
        assert.match(error.message, /^run cnn N=2000000000 seed=0: a run on synthetic data .* would need about/);
        return true;
      });
      assert.equal(existsSync(join(dir, 'results')), false, 'the results folder was made');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
