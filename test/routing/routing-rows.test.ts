import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine, tf } from '../../src/engine/backend.js';
import { GATE_MODES } from '../../src/routing/gate.js';
import { PatchMoE, type RowLists } from '../../src/routing/patch-moe-layer.js';
import { expandRows, expandRowsTensor } from '../../src/routing/routing-rows.js';
import { expertTargets } from '../../src/ops/expert-outputs.js';
import { freshRng } from '../support/random.js';
import type { Rng } from '../../src/util/random.js';

/** Indices [batch, k, l] as routing makes them: l distinct patches of 0..n-1 per image and expert. */
function randomIndices(rng: Rng, batch: number, k: number, l: number, n: number): Int32Array {
  const indices = new Int32Array(batch * k * l);
  for (let i = 0; i < batch * k; i++) {
    const patches = Array.from({ length: n }, (_, j) => j);
    for (let t = 0; t < l; t++) {
      const pick = t + rng.int(n - t);
      [patches[t], patches[pick]] = [patches[pick], patches[t]];
      indices[i * l + t] = patches[t];
    }
  }
  return indices;
}

/** Each tensor's values, then disposes it. */
function valuesOf(tensors: tf.Tensor[]): number[][] {
  const values = tensors.map((t) => Array.from(t.dataSync()));
  tf.dispose(tensors);
  return values;
}

describe('PatchMoE row lists: tensor ops and host loops', () => {
  /** Where each expert-major output row goes, from its definition: expert s's row r -> r * k + s; all distinct, in range. */
  function checkTargets(expertRows: number[][], rowCount: number, what: string) {
    const k = expertRows.length;
    const targets = valuesOf([expertTargets(expertRows.map((r) => tf.tensor1d(r, 'int32')))])[0];
    assert.deepEqual(
      targets,
      expertRows.flatMap((rows, s) => rows.map((r) => r * k + s)),
      what,
    );
    assert.equal(new Set(targets).size, targets.length, `${what}: distinct`);
    assert.ok(
      targets.every((t) => t >= 0 && t < rowCount * k),
      `${what}: in range`,
    );
  }

  it('build the same pixel and target rows on fresh random indices', async () => {
    await initEngine('cpu');
    const rng = freshRng('routing-rows');
    for (let trial = 0; trial < 20; trial++) {
      const [batch, k, n] = [1 + rng.int(4), 1 + rng.int(4), 1 + rng.int(9)];
      const l = 1 + rng.int(n);
      const pixels = 1 + rng.int(4);
      const indices = randomIndices(rng, batch, k, l, n);
      const shape = `batch ${batch}, k ${k}, l ${l}, n ${n}`;
      // Each expert's buffer: expert s's place b l + t holds patch row b n + indices[b, s, t].
      const loops = Array.from({ length: k }, (_, s) =>
        Int32Array.from({ length: batch * l }, (_, i) => Math.floor(i / l) * n + indices[(Math.floor(i / l) * k + s) * l + (i % l)]),
      );
      checkTargets(
        loops.map((r) => Array.from(r)),
        batch * n,
        `targets, ${shape}`,
      );
      const rows = tf.tensor2d(Int32Array.from(loops.flatMap((r) => Array.from(r))), [k, batch * l], 'int32');
      const pixelRows = expandRowsTensor(rows, pixels);
      const pixelLoops = loops.map((r) => expandRows(r, pixels));
      assert.deepEqual(
        Array.from(pixelRows.dataSync()),
        pixelLoops.flatMap((r) => Array.from(r)),
        `pixel rows, ${shape}, ${pixels} pixels`,
      );
      checkTargets(
        pixelLoops.map((r) => Array.from(r)),
        batch * n * pixels,
        `pixel targets, ${shape}, ${pixels} pixels`,
      );
      tf.dispose([rows, pixelRows]);
    }
  });

  /** Output and the gradients of sum(output * probe) for the input and every weight, with the row lists built one way. */
  function outputsAndGradients(layer: PatchMoE, rowLists: RowLists, input: tf.Tensor4D, probe: tf.Tensor4D) {
    layer.rowLists = rowLists;
    const output = Array.from((layer.apply(input) as tf.Tensor).dataSync());
    const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    const x = tf.variable(input);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(x) as tf.Tensor, probe)) as tf.Scalar, [x, ...variables]);
    const result = { output, value: value.dataSync()[0], grads: [x, ...variables].map((v) => (grads[v.name] ? Array.from(grads[v.name].dataSync()) : null)) };
    tf.dispose([x, value, ...Object.values(grads)]);
    return result;
  }

  for (const [kernelSize, patchSize] of [
    [1, 1],
    [1, 2],
    [3, 2],
  ] as const) {
    for (const gate of GATE_MODES) {
      it(`give identical outputs and gradients in a PatchMoE (cpu; ${kernelSize}x${kernelSize} experts on ${patchSize}x${patchSize} patches, gate ${gate})`, async () => {
        await initEngine('cpu');
        const rng = freshRng(`row-lists-${kernelSize}-${patchSize}-${gate}`);
        const layer = new PatchMoE({ patchSize, experts: 3, patchesPerExpert: 2, filtersPerExpert: 2, kernelSize, gate, seed: rng.int(1000) });
        const input = tf.randomNormal([2, 4, 6, 3], 0, 1, 'float32', rng.int(1e6)) as tf.Tensor4D;
        const probe = tf.randomNormal([2, 4, 6, 6], 0, 1, 'float32', rng.int(1e6)) as tf.Tensor4D;
        const loops = outputsAndGradients(layer, 'loops', input, probe);
        const tensors = outputsAndGradients(layer, 'tensors', input, probe);
        assert.deepEqual(tensors, loops);
        // Hard gates pass no gradient to the router (weight 0 after the input).
        assert.ok(
          loops.grads.every((g, i) => (gate === 'hard' && i === 1 ? g === null : g?.some((v) => v !== 0))),
          'every weight gets a gradient',
        );
        tf.dispose([input, probe]);
        layer.dispose();
      });
    }
  }

  it('the tensor formulation reads nothing back: no dataSync, arraySync or engine readSync in a forward or backward pass', async () => {
    await initEngine('cpu');
    const rng = freshRng('row-lists-no-read');
    // On cpu, kernels read their inputs through backend.readSync (host memory); a read back from the
    // layer's own code goes through a tensor's dataSync or arraySync, or the engine's readSync.
    const engine = tf.engine() as unknown as { readSync: (dataId: object) => unknown };
    const reads: string[] = [];
    const originals = { dataSync: tf.Tensor.prototype.dataSync, arraySync: tf.Tensor.prototype.arraySync, readSync: engine.readSync };
    tf.Tensor.prototype.dataSync = function (this: tf.Tensor) {
      reads.push('dataSync');
      return originals.dataSync.call(this);
    } as typeof originals.dataSync;
    tf.Tensor.prototype.arraySync = function (this: tf.Tensor) {
      reads.push('arraySync');
      return originals.arraySync.call(this);
    } as typeof originals.arraySync;
    engine.readSync = function (this: unknown, dataId: object) {
      reads.push('readSync');
      return originals.readSync.call(this, dataId);
    };
    try {
      for (const kernelSize of [1, 3]) {
        const layer = new PatchMoE({ patchSize: 2, experts: 2, patchesPerExpert: 3, filtersPerExpert: 4, kernelSize, seed: rng.int(1000) });
        const input = tf.randomNormal([2, 6, 4, 3], 0, 1, 'float32', rng.int(1e6)) as tf.Tensor4D;
        const pass = (rowLists: RowLists) => {
          layer.rowLists = rowLists;
          reads.length = 0;
          const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
          if (variables.length === 0) tf.dispose(layer.apply(input) as tf.Tensor); // build
          const { value, grads } = tf.variableGrads(
            () => tf.sum(layer.apply(input) as tf.Tensor) as tf.Scalar,
            layer.trainableWeights.map((w) => w.read() as tf.Variable),
          );
          tf.dispose([value, ...Object.values(grads)]);
          return [...reads];
        };
        pass('tensors');
        assert.deepEqual(pass('tensors'), [], `${kernelSize}x${kernelSize} experts`);
        // The spies see the loops' read: this test can fail.
        assert.ok(pass('loops').includes('dataSync'));
        input.dispose();
        layer.dispose();
      }
    } finally {
      Object.assign(tf.Tensor.prototype, { dataSync: originals.dataSync, arraySync: originals.arraySync });
      engine.readSync = originals.readSync;
    }
  });
});
