import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine, tf } from '../../src/engine/backend.js';
import { loadModelFiles, saveModelFiles } from '../../src/io/model-files.js';
import { GATE_MODES, type GateMode } from '../../src/routing/gate.js';
import { PatchMoE } from '../../src/routing/patch-moe-layer.js';
import { topIndices } from '../support/reference-pmoe.js';
import { freshRng } from '../support/random.js';

/**
 * The layer's meaning written plainly, patch by patch: each expert runs its convolution on each
 * patch it selected (as a small image with zero padding), times the gate, in its channel slice.
 */
function referencePatchMoe(input: tf.Tensor4D, layer: PatchMoE, gate: GateMode): number[][][][] {
  const { experts: k, patchesPerExpert: l, filtersPerExpert: f, kernelSize } = layer.settings;
  const size = layer.settings.patchSize as number;
  const [batch, height, width, channels] = input.shape;
  const [router, ...expertWeights] = layer.getWeights();
  const rows = height / size;
  const cols = width / size;
  const out = tf.buffer([batch, height, width, k * f]);
  const routerValues = router.arraySync() as number[][];
  for (let b = 0; b < batch; b++) {
    const patchImages: tf.Tensor4D[] = [];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        patchImages.push(tf.slice(input, [b, r * size, c * size, 0], [1, size, size, channels]));
      }
    }
    const flat = patchImages.map((p) => Array.from(p.dataSync()));
    for (let s = 0; s < k; s++) {
      const scores = flat.map((values) => values.reduce((sum, v, i) => sum + v * routerValues[i][s], 0));
      const chosen = topIndices(scores, l);
      const exps = scores.map(Math.exp);
      const chosenSum = chosen.reduce((a, j) => a + exps[j], 0);
      const allSum = exps.reduce((a, v) => a + v, 0);
      for (const j of chosen) {
        const g = gate === 'hard' ? 1 : gate === 'softmax-selected' ? exps[j] / chosenSum : exps[j] / allSum;
        const y = tf.tidy(() =>
          tf.mul(tf.add(tf.conv2d(patchImages[j], expertWeights[2 * s] as tf.Tensor4D, 1, kernelSize === 1 ? 'valid' : 'same'), expertWeights[2 * s + 1]), g),
        );
        const values = y.arraySync() as number[][][][];
        const [r0, c0] = [Math.floor(j / cols) * size, (j % cols) * size];
        for (let y0 = 0; y0 < size; y0++)
          for (let x0 = 0; x0 < size; x0++) for (let o = 0; o < f; o++) out.set(values[0][y0][x0][o], b, r0 + y0, c0 + x0, s * f + o);
        y.dispose();
      }
    }
    tf.dispose(patchImages);
  }
  return out.toTensor().arraySync() as number[][][][];
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe('PatchMoE layer', () => {
  // Square and one-column grids, and 1x1 patches: the shapes where patchify is a plain reshape.
  const shapes = [
    { patchSize: 2, input: [2, 8, 8, 3], patchesPerExpert: 4 },
    { patchSize: 2, input: [2, 8, 2, 3], patchesPerExpert: 3 },
    { patchSize: 1, input: [2, 4, 4, 3], patchesPerExpert: 5 },
  ] as const;
  for (const gate of GATE_MODES) {
    for (const kernelSize of [1, 3]) {
      for (const shape of shapes) {
        it(`matches the patch-by-patch reference (gate ${gate}, ${kernelSize}x${kernelSize} experts, ${shape.patchSize}x${shape.patchSize} patches of [${shape.input.join(', ')}])`, async () => {
          await initEngine('cpu');
          const rng = freshRng(`patchmoe-${gate}-${kernelSize}-${shape.input.join('x')}`);
          const { patchSize, patchesPerExpert } = shape;
          const layer = new PatchMoE({ patchSize, experts: 3, patchesPerExpert, filtersPerExpert: 2, kernelSize, gate, seed: rng.int(1000) });
          const input = tf.randomNormal([...shape.input], 0, 1, 'float32', rng.int(1000)) as tf.Tensor4D;
          const output = layer.apply(input) as tf.Tensor4D;
          assert.deepEqual(output.shape, [...shape.input.slice(0, 3), 6]);
          // Give the biases a value so their placement is checked too.
          layer.getWeights().forEach((w, i) => {
            if (w.rank === 1) layer.weights[i].write(tf.randomNormal(w.shape, 0, 1, 'float32', rng.int(1000)));
          });
          const actual = (layer.apply(input) as tf.Tensor).dataSync();
          const expected = referencePatchMoe(input, layer, gate).flat(3);
          assert.ok(maxDifference(actual, expected) < 1e-4, `max difference ${maxDifference(actual, expected)}`);
          const routing = layer.routing(input);
          assert.deepEqual(routing.indices.shape, [shape.input[0], 3, patchesPerExpert]);
          // routing() computes only the routing: none of the experts' kernels run.
          const routingKernels = (await tf.profile(() => void tf.tidy(() => layer.routing(input).gates))).kernelNames;
          const forwardKernels = (await tf.profile(() => void tf.tidy(() => layer.apply(input) as tf.Tensor))).kernelNames;
          assert.ok(!routingKernels.some((name) => /Conv2D|GatherRows|ExpertOutputs/.test(name)), `routing ran ${routingKernels}`);
          assert.ok(routingKernels.length < forwardKernels.length, `routing ran ${routingKernels}; forward ${forwardKernels}`);
          tf.dispose([input, output, routing.indices, routing.gates]);
        });
      }
    }
  }

  for (const gate of GATE_MODES) {
    it(`gradients match central finite differences (gate ${gate}): input, router (gated only), expert kernel and bias`, async () => {
      await initEngine('cpu');
      const rng = freshRng(`patchmoe-finite-differences-${gate}`);
      const layer = new PatchMoE({
        patchSize: 2,
        experts: 2,
        patchesPerExpert: 2,
        filtersPerExpert: 3,
        kernelSize: 3,
        gate,
        routerInitializer: 'glorotNormal',
        seed: rng.int(1000),
      });
      const input = tf.variable(tf.randomNormal([2, 4, 6, 3], 0, 1, 'float32', rng.int(1000)));
      const probe = tf.randomNormal([2, 4, 6, 6], 0, 1, 'float32', rng.int(1000));
      const lossOf = () => tf.sum(tf.mul(layer.apply(input) as tf.Tensor, probe)) as tf.Scalar;
      tf.dispose(lossOf()); // build
      const [router, kernel0, bias0] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
      // A hard gate passes no gradient to the router.
      const variables = gate === 'hard' ? [input, kernel0, bias0] : [input, router, kernel0, bias0];
      const { value, grads } = tf.variableGrads(lossOf, variables);
      value.dispose();
      // Central differences are only valid where no perturbation changes which patches are chosen.
      const epsilon = 3e-3;
      const routingNow = () => tf.tidy(() => Array.from(layer.routing(input as tf.Tensor4D).indices.dataSync()).join());
      const baseRouting = routingNow();
      for (const variable of variables) {
        const analytic = grads[variable.name].dataSync();
        const values = variable.dataSync().slice();
        let checked = 0;
        for (let trial = 0; trial < 12 && checked < 4; trial++) {
          const i = rng.int(values.length);
          const at = (delta: number) => {
            const moved = values.slice();
            moved[i] += delta;
            variable.assign(tf.tensor(moved, variable.shape));
            return { loss: tf.tidy(() => lossOf().dataSync()[0]), routing: routingNow() };
          };
          const [plus, minus] = [at(epsilon), at(-epsilon)];
          variable.assign(tf.tensor(values, variable.shape));
          if (plus.routing !== baseRouting || minus.routing !== baseRouting) continue;
          checked++;
          const numeric = (plus.loss - minus.loss) / (2 * epsilon);
          const scale = Math.max(1, Math.abs(numeric), Math.abs(analytic[i]));
          assert.ok(Math.abs(numeric - analytic[i]) < 2e-2 * scale, `${variable.name}[${i}]: analytic ${analytic[i]}, numeric ${numeric}`);
        }
        assert.ok(checked >= 2, `${variable.name}: only ${checked} coordinates left the routing unchanged`);
      }
      tf.dispose([input, probe, ...Object.values(grads)]);
      layer.dispose();
    });
  }

  // 1x1 experts with sizes in multiples of 4 take the SIMD rowsProduct path on wasm.
  for (const kernelSize of [3, 1]) {
    it(`has the same gradients on wasm as on cpu, through the gathered patches into earlier layers (${kernelSize}x${kernelSize} experts)`, async () => {
      const rng = freshRng(`patchmoe-gradients-${kernelSize}`);
      const seed = rng.int(1000);
      const gradientsOn = async (backend: 'cpu' | 'wasm') => {
        await initEngine(backend);
        const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: tfl.initializers.glorotNormal({ seed }) });
        const moe = new PatchMoE({ patchSize: 2, experts: 2, patchesPerExpert: 2, filtersPerExpert: 4, kernelSize, seed: seed + 1 });
        const input = tf.randomNormal([2, 6, 6, 2], 0, 1, 'float32', seed + 2);
        const probe = tf.randomNormal([2, 6, 6, 8], 0, 1, 'float32', seed + 3);
        moe.apply(conv.apply(input) as tf.Tensor); // build
        const variables = [...conv.trainableWeights, ...moe.trainableWeights].map((w) => w.read() as tf.Variable);
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(moe.apply(conv.apply(input) as tf.Tensor) as tf.Tensor, probe)) as tf.Scalar, variables);
        const result = { value: value.dataSync()[0], grads: variables.map((v) => Array.from(grads[v.name].dataSync())) };
        tf.dispose([input, probe, value, ...Object.values(grads)]);
        conv.dispose();
        moe.dispose();
        return result;
      };
      const cpu = await gradientsOn('cpu');
      const wasm = await gradientsOn('wasm');
      assert.ok(Math.abs(cpu.value - wasm.value) < 1e-3 * Math.max(1, Math.abs(cpu.value)));
      assert.equal(cpu.grads.length, wasm.grads.length);
      cpu.grads.forEach((g, i) => {
        const scale = Math.max(1, ...g.map(Math.abs));
        assert.ok(maxDifference(g, wasm.grads[i]) < 1e-4 * scale, `weight ${i}: ${maxDifference(g, wasm.grads[i])}`);
        assert.ok(
          g.some((v) => v !== 0),
          `weight ${i} gets a gradient`,
        );
      });
    });
  }

  it('save then load reproduces outputs to 1e-6', async () => {
    await initEngine('wasm');
    const rng = freshRng('patchmoe-save');
    const input = tfl.input({ shape: [8, 8, 3] });
    const features = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(input) as tfl.SymbolicTensor;
    const moe = new PatchMoE({
      patchSize: [2, 4],
      experts: 4,
      patchesPerExpert: 2,
      filtersPerExpert: 5,
      kernelSize: 1,
      gate: 'softmax-all',
      seed: rng.int(1000),
    }).apply(features) as tfl.SymbolicTensor;
    const pooled = tfl.layers.globalAveragePooling2d({}).apply(moe) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2 }).apply(pooled) as tfl.SymbolicTensor });
    const x = tf.randomNormal([3, 8, 8, 3], 0, 1, 'float32', rng.int(1000));
    const before = (model.predict(x) as tf.Tensor).dataSync();
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-save-'));
    try {
      await saveModelFiles(model, dir);
      const loaded = await loadModelFiles(dir);
      const after = (loaded.predict(x) as tf.Tensor).dataSync();
      assert.ok(maxDifference(before, after) <= 1e-6, `max difference ${maxDifference(before, after)}`);
      const layer = loaded.layers.find((l) => l instanceof PatchMoE) as PatchMoE;
      assert.equal(layer.settings.gate, 'softmax-all');
      assert.deepEqual(layer.settings.patchSize, [2, 4]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
