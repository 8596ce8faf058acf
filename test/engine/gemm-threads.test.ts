import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { ArenaFullError, gemmThreads, threadsSetting } from '../../src/engine/gemm-threads.js';

describe('PMOE_THREADS', () => {
  it('takes positive integers and refuses anything else, naming the variable and the value', () => {
    assert.equal(threadsSetting('1'), 1);
    assert.equal(threadsSetting('2'), 2);
    for (const bad of ['0', '-1', '1.5', 'two', ' ']) {
      assert.throws(() => threadsSetting(bad), (error: Error) => error instanceof RangeError && /PMOE_THREADS must be a positive integer/.test(error.message) && error.message.includes(JSON.stringify(bad)));
    }
  });

  it('a process with a bad value stops at its first product with that message', () => {
    const script = `import('${new URL('../../src/engine/gemm-threads.js', import.meta.url).href}').then((m) => m.gemmThreads())`;
    const result = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, PMOE_THREADS: 'lots' }, encoding: 'utf8' });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /PMOE_THREADS must be a positive integer .*got "lots"/);
  });
});

describe('the arena of the two-thread products (gemm-threads.ts)', () => {
  it('keeps tables and weight copies between operations, and rebuilds or copies again what changed', () => {
    const threads = gemmThreads();
    assert.ok(threads !== null, 'two threads run here');
    let builds = 0;
    const build = (ints: Int32Array, at: number) => {
      builds++;
      for (let i = 0; i < 8; i++) ints[at + i] = 100 + i;
    };
    const table = threads.table('test table', 8, build);
    threads.reset();
    assert.equal(threads.table('test table', 8, build), table, 'the same table, where it lies');
    assert.equal(builds, 1);
    assert.deepEqual(Array.from(threads.ints().subarray(table / 4, table / 4 + 8)), [100, 101, 102, 103, 104, 105, 106, 107]);
    threads.table('test table', 12, build);
    assert.equal(builds, 2, 'another length is another table');

    const weights = { dataId: {} };
    const values = Float32Array.from({ length: 16 }, (_, i) => i / 2);
    const copy = threads.keptCopy(weights.dataId, values);
    threads.reset();
    values.fill(7); // not what tfjs does (a tensor's data never changes): shows that the kept copy is used
    assert.equal(threads.keptCopy(weights.dataId, values), copy);
    assert.equal(threads.floats()[copy / 4 + 3], 1.5, 'the copy made the first time');
    const other = threads.keptCopy({}, values);
    assert.notEqual(other, copy, 'another tensor, another copy');
    assert.equal(threads.floats()[other / 4 + 3], 7);
    threads.reset();
  });

  it('reports a full arena as ArenaFullError, and a job that fails on the worker thread with its error', (t) => {
    const threads = gemmThreads();
    if (threads === null) return t.skip('the two-thread products need two cores and worker threads');
    assert.throws(() => threads.alloc(2 ** 30), (error: Error) => error instanceof ArenaFullError && /do not fit the \d+-byte scratch of the arena/.test(error.message));
    threads.reset();
    // A row table pointing past the arena's 1 GiB: the worker's product traps.
    const rows = threads.alloc(8);
    threads.ints().fill(2 ** 31 - 64, rows / 4, rows / 4 + 8);
    const c = threads.alloc(64);
    assert.throws(
      () => threads.split('gemmSeg', [4, 4, 4, 1, rows, 4, c, c, c], () => undefined),
      (error: Error) => /gemmSeg failed on the worker thread: RuntimeError: memory access out of bounds/.test(error.message),
    );
    threads.reset();
  });
});
