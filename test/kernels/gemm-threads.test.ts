import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { ArenaFullError, gemmThreads, threadsSetting, workerExecArgv } from '../../src/kernels/gemm-threads.js';

describe('PMOE_THREADS', () => {
  it('takes positive integers and refuses anything else, naming the variable and the value', () => {
    assert.equal(threadsSetting('1'), 1);
    assert.equal(threadsSetting('2'), 2);
    for (const bad of ['0', '-1', '1.5', 'two', ' ']) {
      assert.throws(
        () => threadsSetting(bad),
        (error: Error) =>
          error instanceof RangeError && /PMOE_THREADS must be a positive integer/.test(error.message) && error.message.includes(JSON.stringify(bad)),
      );
    }
  });

  it('a process with a bad value stops at its first product with that message', () => {
    const script = `import('${new URL('../../src/kernels/gemm-threads.js', import.meta.url).href}').then((m) => m.gemmThreads())`;
    const result = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, PMOE_THREADS: 'lots' }, encoding: 'utf8' });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /PMOE_THREADS must be a positive integer .*got "lots"/);
  });
});

describe('the second thread under a parent started with --input-type=module', () => {
  it("drops that option from the worker, whose eval'd source is CommonJS", () => {
    assert.deepEqual(workerExecArgv(['--input-type=module', '--max-old-space-size=100']), ['--max-old-space-size=100']);
    assert.deepEqual(workerExecArgv(['--input-type', 'module', '--expose-gc']), ['--expose-gc']);
  });

  it('starts, and the process exits cleanly', () => {
    // A worker that failed to start would raise an uncaught error in the parent within its wait.
    const url = new URL('../../src/kernels/gemm-threads.js', import.meta.url).href;
    const script = `const m = await import('${url}'); m.gemmThreads(); await new Promise((r) => setTimeout(r, 1000)); console.log('done');`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'done');
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

  it('reports a full arena as ArenaFullError, and a failing job with its error, on whichever thread ran it', (t) => {
    const threads = gemmThreads();
    if (threads === null) return t.skip('the two-thread products need two cores and worker threads');
    assert.throws(
      () => threads.alloc(2 ** 30),
      (error: Error) => error instanceof ArenaFullError && /do not fit the \d+-byte scratch of the arena/.test(error.message),
    );
    threads.reset();
    // A row table pointing past the arena's 1 GiB: the worker's product traps.
    const rows = threads.alloc(8);
    threads.ints().fill(2 ** 31 - 64, rows / 4, rows / 4 + 8);
    const c = threads.alloc(64);
    // Whichever thread takes the worker's part first runs it: the trap surfaces either way.
    assert.throws(
      () => threads.split('gemmSeg', [4, 4, 4, 1, rows, 4, c, c, c], () => undefined),
      (error: Error) =>
        threads.lastRunBy === 'worker'
          ? /gemmSeg failed on the worker thread: RuntimeError: memory access out of bounds/.test(error.message)
          : error instanceof WebAssembly.RuntimeError && /memory access out of bounds/.test(error.message),
    );
    threads.reset();
  });
});

describe('split (gemm-threads.ts): the worker part runs on whichever thread takes it first', () => {
  /** C = A B + bias by gemmSeg with one segment, rows split 8 here / the rest by split(); returns C and who ran the worker's rows. */
  function splitProduct(
    threads: NonNullable<ReturnType<typeof gemmThreads>>,
    a: Float32Array,
    b: Float32Array,
    bias: Float32Array,
    m: number,
    k: number,
    n: number,
    hereMs: number,
  ) {
    const [aPtr, bPtr, biasPtr, cPtr] = [threads.alloc(m * k), threads.alloc(k * n), threads.alloc(n), threads.alloc(m * n)];
    const [rows, cRows] = [threads.alloc(m), threads.alloc(m)];
    const [floats, ints] = [threads.floats(), threads.ints()];
    floats.set(a, aPtr / 4);
    floats.set(b, bPtr / 4);
    floats.set(bias, biasPtr / 4);
    for (let i = 0; i < m; i++) {
      ints[rows / 4 + i] = aPtr + 4 * i * k;
      ints[cRows / 4 + i] = cPtr + 4 * i * n;
    }
    const here = 8;
    threads.split('gemmSeg', [m - here, n, k, 1, rows + 4 * here, m, bPtr, cRows + 4 * here, biasPtr], () => {
      threads.kernels.gemmSeg(here, n, k, 1, rows, m, bPtr, cRows, biasPtr);
      const until = performance.now() + hereMs; // this thread busy: the worker takes its part
      while (performance.now() < until);
    });
    const c = threads.floats().slice(cPtr / 4, cPtr / 4 + m * n);
    threads.reset();
    return { c, runBy: threads.lastRunBy };
  }

  it('gives the plain product (float64 loops) on fresh random inputs, whether the worker or this thread ran its rows', () => {
    const threads = gemmThreads();
    assert.ok(threads !== null, 'two threads run here');
    const [m, k, n] = [64, 20, 12];
    const random = (length: number) => Float32Array.from({ length }, () => Math.random() * 2 - 1);
    const seen = new Set<string>();
    // This thread busy for 0 ms after a pause (the worker has gone to sleep, and waking takes
    // longer than 8 rows' product): it comes to the worker's rows first; 20-640 ms: the worker does.
    for (const hereMs of [0, 0, 0, 20, 80, 320, 640]) {
      if (hereMs === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30);
      if (hereMs === 20) threads.rest(); // asleep at once: still wakes for the next job
      const [a, b, bias] = [random(m * k), random(k * n), random(n)];
      const { c, runBy } = splitProduct(threads, a, b, bias, m, k, n, hereMs);
      seen.add(runBy);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let sum = bias[j];
          for (let p = 0; p < k; p++) sum += a[i * k + p] * b[p * n + j];
          assert.ok(
            Math.abs(c[i * n + j] - sum) <= 1e-5 * (1 + Math.abs(sum)),
            `C[${i}, ${j}] = ${c[i * n + j]}, expected ${sum} (worker part run by ${runBy})`,
          );
        }
      }
    }
    assert.deepEqual([...seen].sort(), ['caller', 'worker'], 'both threads ran the worker part at least once');
  });
});
