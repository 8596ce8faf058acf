import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine, tf } from '../../src/engine/backend.js';
import { TwoLayerPmoe } from '../../src/models/two-layer-pmoe.js';
import { patchify, unpatchify, patchGrid } from '../../src/routing/patchify.js';
import { gatherForExperts, route } from '../../src/routing/route.js';
import { topIndices } from '../support/reference-pmoe.js';
import { freshRng } from '../support/random.js';

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`routing on ${backend}`, () => {
    it('selects exactly the known top-l patches of hand-built scores', async () => {
      await initEngine(backend);
      // [batch 2, k 2, n 5]
      const scores = tf.tensor3d([
        [
          [0.1, 0.9, 0.3, 0.8, -1],
          [5, 4, 3, 2, 1],
        ],
        [
          [-3, -2, -1, 0, 1],
          [0, 10, 0, 10, 0],
        ],
      ]);
      const routing = route(scores, 2, 'hard');
      assert.deepEqual(await routing.indices.array(), [
        [
          [1, 3],
          [0, 1],
        ],
        [
          [4, 3],
          [1, 3],
        ],
      ]);
      assert.deepEqual(await routing.gates.array(), [
        [
          [1, 1],
          [1, 1],
        ],
        [
          [1, 1],
          [1, 1],
        ],
      ]);
      tf.dispose([scores, routing.indices, routing.gates]);
    });

    it('breaks ties toward the lower patch index, on many random tied score sets', async () => {
      await initEngine(backend);
      const rng = freshRng(`ties-${backend}`);
      const [batch, k, n] = [30, 4, 16];
      // Few distinct values, so most rows have ties at the selection boundary.
      const values = Array.from({ length: batch * k * n }, () => rng.int(4));
      const scores = tf.tensor3d(values, [batch, k, n]);
      for (const l of [1, 3, 6, 16]) {
        const routing = route(scores, l, 'softmax-selected');
        const indices = routing.indices.arraySync();
        for (let b = 0; b < batch; b++) {
          for (let s = 0; s < k; s++) {
            const row = values.slice((b * k + s) * n, (b * k + s + 1) * n);
            assert.deepEqual(indices[b][s], topIndices(row, l), `image ${b} expert ${s} l ${l}`);
          }
        }
        tf.dispose([routing.indices, routing.gates]);
      }
      scores.dispose();
    });

    it('computes the three gate modes as documented', async () => {
      await initEngine(backend);
      const scores = tf.tensor3d([[[1, 3, 2, 0]]]);
      const selected = route(scores, 2, 'softmax-selected');
      const all = route(scores, 2, 'softmax-all');
      const e = [1, 3, 2, 0].map(Math.exp);
      const total = e.reduce((a, b) => a + b);
      const near = (a: number[], b: number[]) => a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-6, `${a} vs ${b}`));
      near((await selected.gates.array())[0][0], [e[1] / (e[1] + e[2]), e[2] / (e[1] + e[2])]);
      near((await all.gates.array())[0][0], [e[1] / total, e[2] / total]);
      tf.dispose([scores, selected.indices, selected.gates, all.indices, all.gates]);
    });

    it('softmax-all gates: forward and gradient w.r.t. the scores equal those through tf.logSumExp on fresh random scores', async () => {
      await initEngine(backend);
      const rng = freshRng(`softmax-all-${backend}`);
      const [batch, k, n, l] = [6, 3, 20, 5];
      const scores = tf.tensor3d(
        Array.from({ length: batch * k * n }, () => 4 * rng.normal()),
        [batch, k, n],
      );
      const probe = tf.tensor3d(
        Array.from({ length: batch * k * l }, () => rng.normal()),
        [batch, k, l],
      );
      const plainGates = (a: tf.Tensor3D) => {
        const selection = tf.topk(a, l, true);
        return tf.exp(tf.sub(selection.values, tf.logSumExp(a, -1, true)));
      };
      const gradOf = (gates: (a: tf.Tensor3D) => tf.Tensor) =>
        tf
          .grad((a: tf.Tensor) => tf.sum(tf.mul(gates(a as tf.Tensor3D), probe)))(scores)
          .dataSync();
      const ours = (a: tf.Tensor3D) => route(a, l, 'softmax-all').gates;
      const near = (a: ArrayLike<number>, b: ArrayLike<number>, what: string) => {
        for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-6, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
      };
      tf.tidy(() => {
        near(ours(scores).dataSync(), plainGates(scores).dataSync(), 'gates');
        near(gradOf(ours), gradOf(plainGates), 'gradient');
      });
      tf.dispose([scores, probe]);
    });

    it('gathers exactly the chosen patches, expert by expert', async () => {
      await initEngine(backend);
      const [batch, n, d] = [3, 5, 2];
      const patches = tf.tensor3d(
        Array.from({ length: batch * n * d }, (_, i) => i),
        [batch, n, d],
      );
      const indices = tf.tensor3d(
        [
          [
            [4, 0],
            [1, 2],
          ],
          [
            [3, 3],
            [0, 1],
          ],
          [
            [2, 1],
            [4, 4],
          ],
        ],
        [batch, 2, 2],
        'int32',
      );
      const gathered = (await gatherForExperts(patches, indices).array()) as number[][][];
      const idx = (await indices.array()) as number[][][];
      for (let s = 0; s < 2; s++) {
        for (let b = 0; b < batch; b++) {
          for (let t = 0; t < 2; t++) {
            const j = idx[b][s][t];
            assert.deepEqual(gathered[s][b * 2 + t], [(b * n + j) * d, (b * n + j) * d + 1]);
          }
        }
      }
      tf.dispose([patches, indices]);
    });

    it('makes each expert multiply batch x l rows, not batch x n', async () => {
      await initEngine(backend);
      const [batch, n, d, k, l] = [7, 16, 12, 3, 2];
      const model = new TwoLayerPmoe({ patchCount: n, patchDim: d, experts: k, neuronsPerExpert: 4, patchesPerExpert: l });
      const x = tf.randomNormal([batch, n, d]) as tf.Tensor3D;
      const profile = await tf.profile(() => model.forward(x));
      const expertProducts = profile.kernels.filter(
        (kernel) => kernel.name === 'BatchMatMul' && kernel.inputShapes.some((shape) => shape?.join() === [k, d, 4].join()),
      );
      assert.equal(expertProducts.length, 1, 'one product against the expert weights');
      assert.deepEqual(expertProducts[0].inputShapes[0], [k, batch * l, d]);
      x.dispose();
      model.dispose();
    });

    it('patchify and unpatchify are inverse and order patches row-major', async () => {
      await initEngine(backend);
      const image = tf.tensor4d(
        Array.from({ length: 4 * 6 * 2 }, (_, i) => i),
        [1, 4, 6, 2],
      );
      const patch = { height: 2, width: 3 };
      const patches = patchify(image, patch);
      assert.deepEqual(patches.shape, [1, 4, 12]);
      // Patch 1 is the top-right 2x3 block: rows 0-1, columns 3-5.
      const pixels = image.arraySync()[0];
      const expected = [0, 1].flatMap((r) => [3, 4, 5].flatMap((c) => pixels[r][c]));
      assert.deepEqual(patches.arraySync()[0][1], expected);
      const back = unpatchify(patches, patchGrid(4, 6, patch), 2);
      assert.deepEqual(back.arraySync(), image.arraySync());
      tf.dispose([image, patches, back]);
    });
  });
}
