import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf } from '../../src/engine/backend.js';
import { GATHER_ROWS, SCATTER_ADD_ROWS, gatherRows, registerGatherRows } from '../../src/ops/gather-rows.js';
import { freshRng, gaussian } from '../support/random.js';
import type { Rng } from '../../src/util/random.js';

type Backend = 'cpu' | 'wasm';
const BACKENDS: Backend[] = ['cpu', 'wasm'];
const GRAD_TOLERANCE = 1e-5;

interface Case {
  name: string;
  rowCount: number;
  width: number;
  /** Row indices, drawn from the rng so every run sees fresh ones. */
  rows: (rng: Rng, rowCount: number) => number[];
}

const uniformRows = (count: number) => (rng: Rng, rowCount: number) => Array.from({ length: count }, () => rng.int(rowCount));

const CASES: Case[] = [
  { name: 'width 1, fewer rows than x', rowCount: 9, width: 1, rows: uniformRows(4) },
  { name: 'width 5, more rows than x (repeats)', rowCount: 6, width: 5, rows: uniformRows(23) },
  { name: 'width 784, 960 of 320 rows', rowCount: 320, width: 784, rows: uniformRows(960) },
  { name: 'width 32, 960 of 320 rows', rowCount: 320, width: 32, rows: uniformRows(960) },
  {
    name: 'width 5, a permutation of all rows',
    rowCount: 11,
    width: 5,
    rows: (rng, rowCount) => rng.shuffle(Array.from({ length: rowCount }, (_, i) => i)),
  },
  {
    name: 'width 5, one row repeated',
    rowCount: 7,
    width: 5,
    rows: (rng, rowCount) => new Array<number>(12).fill(rng.int(rowCount)),
  },
  { name: 'width 784, a single-row x', rowCount: 1, width: 784, rows: uniformRows(5) },
  { name: 'width 5, empty rows', rowCount: 8, width: 5, rows: () => [] },
];

interface Inputs {
  x: Float32Array;
  rows: Int32Array;
  probe: Float32Array;
  rowCount: number;
  width: number;
}

function makeInputs(rng: Rng, c: Case): Inputs {
  const rows = Int32Array.from(c.rows(rng, c.rowCount));
  return {
    x: Float32Array.from(gaussian(rng, c.rowCount * c.width)),
    rows,
    probe: Float32Array.from(gaussian(rng, rows.length * c.width)),
    rowCount: c.rowCount,
    width: c.width,
  };
}

type Gather = (x: tf.Tensor2D, rows: tf.Tensor1D) => tf.Tensor2D;

/** Forward output and d/dx sum(gather(x, rows) * probe), read back as plain arrays. */
async function forwardAndGrad(backend: Backend, gather: Gather, inp: Inputs): Promise<{ y: Float32Array; dx: Float32Array }> {
  await initEngine(backend);
  const x = tf.tensor2d(inp.x, [inp.rowCount, inp.width]);
  const rows = tf.tensor1d(inp.rows, 'int32');
  const probe = tf.tensor2d(inp.probe, [inp.rows.length, inp.width]);
  try {
    const y = gather(x, rows);
    const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(gather(v as tf.Tensor2D, rows), probe)))(x);
    try {
      assert.deepEqual(y.shape, [inp.rows.length, inp.width]);
      assert.deepEqual(dx.shape, [inp.rowCount, inp.width]);
      assert.equal(y.dtype, 'float32');
      return { y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array };
    } finally {
      tf.dispose([y, dx]);
    }
  } finally {
    tf.dispose([x, rows, probe]);
  }
}

const tfGather: Gather = (x, rows) => tf.gather(x, rows);

function assertExact(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: lengths differ`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: lengths differ`);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= GRAD_TOLERANCE * Math.max(1, Math.abs(expected[i])))) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]} (|diff| ${err.toExponential(2)})`);
    }
  }
}

function dataIds(): number {
  return tf.engine().backend.numDataIds();
}

before(async () => {
  await initEngine('cpu');
});

after(async () => {
  await initEngine('cpu');
});

describe('gatherRows matches tf.gather on cpu', () => {
  const rng = freshRng('gather-rows');
  for (const c of CASES) {
    const inp = makeInputs(rng, c);
    for (const backend of BACKENDS) {
      test(`${c.name} on ${backend}`, async () => {
        const expected = await forwardAndGrad('cpu', tfGather, inp);
        const actual = await forwardAndGrad(backend, gatherRows, inp);
        assertExact(actual.y, expected.y, 'forward');
        assertClose(actual.dx, expected.dx, 'gradient');
      });
    }
  }
});

describe('gatherRows validation', () => {
  for (const backend of BACKENDS) {
    test(`out-of-range rows throw a clear error on ${backend}, leaking nothing`, async () => {
      await initEngine(backend);
      const x = tf.zeros([4, 3]) as tf.Tensor2D;
      try {
        for (const bad of [4, -1, 1000]) {
          const rows = tf.tensor1d([0, 3, bad, 1], 'int32');
          const tensors = tf.memory().numTensors;
          const ids = dataIds();
          assert.throws(
            () => gatherRows(x, rows),
            (err: Error) => err.message.includes(`rows[2] = ${bad}`) && err.message.includes('0..3'),
          );
          assert.equal(tf.memory().numTensors, tensors);
          assert.equal(dataIds(), ids);
          rows.dispose();
        }
        const none = tf.zeros([0, 3]) as tf.Tensor2D;
        const rows = tf.tensor1d([0], 'int32');
        assert.throws(() => gatherRows(none, rows), /rows\[0\] = 0 is out of range.*no rows/);
        tf.dispose([none, rows]);
      } finally {
        x.dispose();
      }
    });

    test(`scatter kernel rejects out-of-range rows on ${backend}`, async () => {
      await initEngine(backend);
      const dy = tf.ones([2, 3]);
      const rows = tf.tensor1d([1, 5], 'int32');
      assert.throws(
        () => tf.engine().runKernel(SCATTER_ADD_ROWS, { dy, rows }, { rowCount: 5 }),
        /rows\[1\] = 5 is out of range; allowed row indices are 0\.\.4/,
      );
      tf.dispose([dy, rows]);
    });
  }

  test('rank and dtype are checked', () => {
    const x = tf.zeros([4, 3]) as tf.Tensor2D;
    const rows = tf.tensor1d([0, 1], 'int32');
    const floatRows = tf.tensor1d([0, 1], 'float32');
    const intX = tf.zeros([4, 3], 'int32') as tf.Tensor2D;
    const x3 = tf.zeros([4, 3, 1]);
    const rows2 = tf.zeros([2, 1], 'int32');
    assert.throws(() => gatherRows(x, floatRows), /rows must be a rank-1 int32 tensor.*float32/);
    assert.throws(() => gatherRows(x, rows2 as unknown as tf.Tensor1D), /rows must be a rank-1 int32 tensor, got rank 2/);
    assert.throws(() => gatherRows(intX, rows), /x must be a rank-2 float32 tensor.*int32/);
    assert.throws(() => gatherRows(x3 as unknown as tf.Tensor2D, rows), /x must be a rank-2 float32 tensor, got rank 3/);
    // The kernel checks too, for callers that invoke it by name.
    assert.throws(() => tf.engine().runKernel(GATHER_ROWS, { x: intX, rows }), /x must be a rank-2 float32/);
    tf.dispose([x, rows, floatRows, intX, x3, rows2]);
  });
});

describe('gatherRows memory and tape', () => {
  for (const backend of BACKENDS) {
    test(`a tidy'd forward and gradient leaks nothing on ${backend}`, async () => {
      await initEngine(backend);
      const rng = freshRng(`gather-rows memory ${backend}`);
      const x = tf.tensor2d(Float32Array.from(gaussian(rng, 40 * 7)), [40, 7]);
      const rows = tf.tensor1d(
        Array.from({ length: 90 }, () => rng.int(40)),
        'int32',
      );
      const tensors = tf.memory().numTensors;
      const ids = dataIds();
      tf.tidy(() => {
        gatherRows(x, rows);
        tf.grad((v: tf.Tensor) => tf.sum(tf.square(gatherRows(v as tf.Tensor2D, rows))))(x);
      });
      assert.equal(tf.memory().numTensors, tensors);
      assert.equal(dataIds(), ids);
      tf.dispose([x, rows]);
    });

    test(`rows computed from the watched tensor do not break the tape on ${backend}`, async () => {
      await initEngine(backend);
      const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
      const tensors = tf.memory().numTensors;
      const dx = tf.tidy(() =>
        tf.grad((v: tf.Tensor) => {
          // Integer rows that depend on v: tfjs then asks gatherRows for a rows gradient.
          const rows = tf.cast(tf.add(tf.mul(tf.sum(v, 1), 0), tf.tensor1d([2, 0, 2])), 'int32') as tf.Tensor1D;
          return tf.sum(gatherRows(v as tf.Tensor2D, rows));
        })(x),
      );
      assert.deepEqual(Array.from(dx.dataSync()), [1, 1, 0, 0, 2, 2]);
      dx.dispose();
      assert.equal(tf.memory().numTensors, tensors);
      x.dispose();
    });
  }

  test('registerGatherRows is idempotent and quiet', () => {
    const warn = console.warn;
    const warnings: unknown[] = [];
    console.warn = (...args: unknown[]) => warnings.push(args);
    try {
      registerGatherRows();
      registerGatherRows();
    } finally {
      console.warn = warn;
    }
    assert.deepEqual(warnings, []);
    for (const backend of BACKENDS) {
      assert.ok(tf.getKernel(GATHER_ROWS, backend), `${GATHER_ROWS} on ${backend}`);
      assert.ok(tf.getKernel(SCATTER_ADD_ROWS, backend), `${SCATTER_ADD_ROWS} on ${backend}`);
    }
    assert.ok(tf.getGradient(GATHER_ROWS));
  });
});
