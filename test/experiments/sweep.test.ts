import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readResults } from '../../src/experiments/results-file.js';
import { inShard, parseShard, runKey } from '../../src/experiments/shard.js';
import { defaultJobs, runSweep, runsWantGpu } from '../../src/experiments/sweep.js';
import { mayHaveGpu } from '../../src/engine/webgpu/gpu-device.js';
import { smallSweep } from '../support/sweep-driver.js';

const driver = fileURLToPath(new URL('../support/sweep-driver.js', import.meta.url));

function runDriver(resultsPath: string, killAfterLines?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [driver, resultsPath, '2'], { stdio: 'ignore' });
    let timer: NodeJS.Timeout | undefined;
    if (killAfterLines !== undefined) {
      timer = setInterval(() => {
        const lines = existsSync(resultsPath) ? readFileSync(resultsPath, 'utf8').split('\n').length - 1 : 0;
        if (lines >= killAfterLines) child.kill('SIGKILL');
      }, 20);
    }
    child.on('exit', () => {
      clearInterval(timer);
      resolve();
    });
    child.on('error', reject);
  });
}

/** Record content without the wall time, which no two runs share. */
function comparable(path: string): Map<string, string> {
  return new Map(
    readResults(path).lines.map((line) => [line.key, JSON.stringify(line.status === 'ok' ? { ...line.record, wallTimeMs: 0, provenance: undefined } : line)]),
  );
}

describe('sweep runner', () => {
  it('a sweep killed with SIGKILL mid-way and rerun ends with the same records as an uninterrupted one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-sweep-'));
    try {
      const whole = join(dir, 'whole.jsonl');
      const killed = join(dir, 'killed.jsonl');
      await runDriver(whole);
      await runDriver(killed, 3);
      const partial = readResults(killed);
      assert.ok(partial.lines.length >= 3 && partial.lines.length < 9, `killed mid-way: ${partial.lines.length} of 9 finished`);
      // A torn last line, as a kill during a write would leave, is dropped on resume.
      writeFileSync(killed, readFileSync(killed, 'utf8') + '{"key":"torn","stat');
      await runDriver(killed);
      const expected = comparable(whole);
      const actual = comparable(killed);
      assert.equal(expected.size, 9);
      assert.equal(readResults(killed).lines.length, 9, 'no run duplicated');
      assert.equal(readResults(killed).tornLines, 0, 'torn line repaired');
      assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
      for (const [key, value] of expected) assert.equal(actual.get(key), value, `run ${key}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('shards split a sweep into disjoint parts that cover it, the same way every time', async () => {
    const runs = smallSweep().map((spec) => ({ key: runKey(spec), spec }));
    const parts = [1, 2, 3].map((index) => inShard(runs, parseShard(`${index}/3`)));
    const keys = parts.flat().map((run) => run.key);
    assert.equal(new Set(keys).size, runs.length);
    assert.deepEqual(inShard([...runs].reverse(), parseShard('2/3')), parts[1]);
    assert.throws(() => parseShard('0/3'), /--shard must be i\/N/);
    assert.throws(() => parseShard('4/3'), /got '4\/3'/);
  });

  it('skips runs already in the results file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-sweep-'));
    try {
      const path = join(dir, 'r.jsonl');
      const specs = smallSweep().slice(0, 2);
      const first = await runSweep(specs, { experiment: 't', resultsPath: path, jobs: 1, backend: 'wasm' });
      assert.equal(first.ran, 2);
      const again = await runSweep(specs, { experiment: 't', resultsPath: path, jobs: 1, backend: 'wasm' });
      assert.equal(again.ran, 0);
      assert.equal(again.lines.length, 2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('default worker count', () => {
  it('is one per core on the CPU backends, one on webgpu, and one with auto only where a GPU device may be', () => {
    for (const backend of ['wasm', 'cpu', 'tensorflow'] as const) assert.equal(defaultJobs(backend), availableParallelism(), backend);
    assert.equal(defaultJobs('webgpu'), 1);
    assert.equal(defaultJobs('auto'), mayHaveGpu() ? 1 : availableParallelism());
    assert.equal(defaultJobs(), defaultJobs('auto'));
    // Two-layer runs stay off the GPU under auto, so they get a worker per core.
    assert.equal(defaultJobs('auto', false), availableParallelism());
    assert.equal(defaultJobs('webgpu', false), 1);
  });

  it('counts a sweep as GPU work when it holds an image run (WRN, WRN-pMoE), not for two-layer runs', () => {
    const twoLayer = { data: { source: 'synthetic' as const, trainSize: 10 } };
    const image = { kind: 'image' as const, data: { source: 'mnist-quadrants' as const, trainSize: 10 }, model: { architecture: 'wrn' as const } };
    assert.equal(runsWantGpu([twoLayer, twoLayer]), false);
    assert.equal(runsWantGpu([twoLayer, image as never]), true);
    assert.equal(runsWantGpu([]), false);
  });
});
