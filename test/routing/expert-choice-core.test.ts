import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine, tf } from '../../src/engine/backend.js';
import { gateGradient, logSumExp, topL, writeGates, type ScoreColumn, type Selection } from '../../src/routing/expert-choice-core.js';
import { GATE_MODES } from '../../src/routing/gate.js';
import { route } from '../../src/routing/route.js';
import { freshRng } from '../support/random.js';
import { relativeError } from '../support/relative-error.js';

describe('the routing core (routing/expert-choice-core.ts) against route() on fresh random scores', () => {
  for (const gate of GATE_MODES) {
    for (const tied of [false, true]) {
      it(`${gate}, ${tied ? 'many tied scores' : 'gaussian scores'}: top-l, gates and the scores' gradient`, async () => {
        await initEngine('cpu');
        const rng = freshRng(`expert-choice-core-${gate}-${tied}`);
        // Scores [batch n, stride] with stride > k (padded columns, as the fused step keeps them).
        const [batch, n, k, l, stride] = [4, 20, 3, 6, 4];
        const values = new Float32Array(batch * n * stride);
        for (let i = 0; i < values.length; i++) values[i] = tied ? rng.int(4) : 3 * rng.normal();
        const dGates = Float64Array.from({ length: batch * k * l }, () => rng.normal());

        const selection: Selection = { chosen: new Int32Array(batch * k * l), gates: new Float64Array(batch * k * l), at: 0, l };
        const column: ScoreColumn = { values, base: 0, step: stride, n };
        const dScores = new Float64Array(values.length).fill(NaN);
        for (let b = 0; b < batch; b++) {
          for (let s = 0; s < k; s++) {
            column.base = b * n * stride + s;
            selection.at = (b * k + s) * l;
            topL(column, selection);
            const lse = writeGates(gate, column, selection);
            if (gate === 'softmax-all') assert.ok(Math.abs(lse - logSumExp(column)) < 1e-12);
            // Every other column with the log-sum-exp computed inside.
            gateGradient(gate, column, selection, dGates, dScores, (b + s) % 2 === 0 ? lse : undefined);
          }
        }

        const reference = tf.tidy(() => {
          const scores = tf.slice(tf.tensor2d(values, [batch * n, stride]), [0, 0], [batch * n, k]);
          const byExpert = (x: tf.Tensor) => tf.transpose(tf.reshape(x, [batch, n, k]), [0, 2, 1]) as tf.Tensor3D;
          const routing = route(byExpert(scores), l, gate);
          const probe = tf.tensor3d(Float32Array.from(dGates), [batch, k, l]);
          const grad = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(route(byExpert(x), l, gate).gates, probe)))(scores);
          return { indices: Array.from(routing.indices.dataSync()), gates: routing.gates.dataSync().slice(), grad: grad.dataSync().slice() };
        });
        assert.deepEqual(Array.from(selection.chosen), reference.indices, 'indices (ties to the lower patch)');
        assert.ok(relativeError(selection.gates, reference.gates) < 1e-6, `gates: ${relativeError(selection.gates, reference.gates)}`);
        const used = new Float64Array(batch * n * k);
        for (let r = 0; r < batch * n; r++) for (let s = 0; s < k; s++) used[r * k + s] = dScores[r * stride + s];
        assert.ok(used.every(Number.isFinite), 'the whole column written');
        if (gate === 'hard')
          assert.ok(
            used.every((v) => v === 0),
            'hard gates pass no gradient',
          );
        else assert.ok(relativeError(used, reference.grad) < 1e-5, `gradient: ${relativeError(used, reference.grad)}`);
        for (let r = 0; r < batch * n; r++) assert.ok(Number.isNaN(dScores[r * stride + k]), 'padding columns untouched');
      });
    }
  }
});
