import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { initEngine, tf } from '../../src/engine/backend.js';
import { releaseWebgpu } from '../../src/engine/webgpu/dawn.js';
import { buildModel, type ModelOptions } from '../../src/models/build.js';
import { TwoLayerPmoe } from '../../src/models/two-layer-pmoe.js';
import { GATE_MODES } from '../../src/routing/gate.js';
import { classificationLoss } from '../../src/training/loss.js';
import { routerLinearLoss } from '../../src/training/router-loss.js';
import { freshRng } from '../support/random.js';
import { webgpuSkipReason } from '../support/webgpu-adapter.js';
import { relativeError } from '../support/relative-error.js';

// Small shapes: SwiftShader runs every kernel on the CPU.
const BATCH = 6;
const N = 8;
const D = 6;
const CLASSES = 2;

type Case = [string, Omit<ModelOptions, 'patchCount' | 'patchDim' | 'classes' | 'seed'>];
const CASES: Case[] = [
  ['CNN', { kind: 'cnn', neurons: 5 }],
  ['separate pMoE (hard gates)', { kind: 'separate', experts: CLASSES, neuronsPerExpert: 3, patchesPerExpert: 2 }],
  ...GATE_MODES.map((gate): Case => [`joint pMoE, ${gate} gates`, { kind: 'joint', experts: 4, neuronsPerExpert: 3, patchesPerExpert: 3, gate }]),
  ['joint pMoE, pooling over all n', { kind: 'joint', experts: 4, neuronsPerExpert: 3, patchesPerExpert: 3, pooling: 'all' }],
];

interface Outcome {
  logits: Float32Array;
  loss: number;
  grads: Float32Array[];
  routerLoss?: number;
  routerGrad?: Float32Array;
}

/** Forward, loss and the gradient of every trainable variable, on one backend, from the seed. */
async function computeOn(backend: 'cpu' | 'webgpu', options: Case[1], seed: number, patches: Float32Array, labels: Int32Array): Promise<Outcome> {
  await initEngine(backend);
  assert.equal(tf.getBackend(), backend);
  const model = buildModel({ ...options, patchCount: N, patchDim: D, classes: CLASSES, seed } as ModelOptions);
  const x = tf.tensor3d(patches, [BATCH, N, D]);
  const y = tf.tensor1d(labels, 'int32');
  try {
    const logits = model.forward(x);
    const variables = model.trainableVariables();
    const { value, grads } = tf.variableGrads(() => classificationLoss(model.forward(x), y), variables);
    const outcome: Outcome = {
      logits: Float32Array.from(logits.dataSync()),
      loss: value.dataSync()[0],
      // Hard gates leave the routers off the path: no gradient, i.e. zero.
      grads: variables.map((v) => (grads[v.name] ? Float32Array.from(grads[v.name].dataSync()) : new Float32Array(v.size))),
    };
    tf.dispose([logits, value, ...Object.values(grads)]);
    if (model instanceof TwoLayerPmoe) {
      // The router phase of separate training: the linear loss of eq. (6).
      const router = tf.variableGrads(() => routerLinearLoss(model.routers, { patches: x, labels: y }), [model.routers]);
      outcome.routerLoss = router.value.dataSync()[0];
      outcome.routerGrad = Float32Array.from(router.grads[model.routers.name].dataSync());
      tf.dispose([router.value, ...Object.values(router.grads)]);
    }
    return outcome;
  } finally {
    tf.dispose([x, y]);
    model.dispose();
  }
}

describe('two-layer models on webgpu agree with the cpu backend', async () => {
  const skip = await webgpuSkipReason();
  after(() => releaseWebgpu());
  for (const [what, options] of CASES) {
    it(`${what}: logits, loss and every gradient`, { skip }, async () => {
      const rng = freshRng(`webgpu-two-layer-${what}`);
      const seed = rng.int(100000);
      const patches = Float32Array.from({ length: BATCH * N * D }, () => rng.normal());
      const labels = Int32Array.from({ length: BATCH }, (_, i) => i % CLASSES);
      const cpu = await computeOn('cpu', options, seed, patches, labels);
      const gpu = await computeOn('webgpu', options, seed, patches, labels);
      assert.ok(relativeError(gpu.logits, cpu.logits) < 1e-5, `logits differ by ${relativeError(gpu.logits, cpu.logits)}`);
      assert.ok(Math.abs(gpu.loss - cpu.loss) < 1e-5 * Math.max(1, Math.abs(cpu.loss)), `loss ${gpu.loss} vs ${cpu.loss}`);
      assert.equal(gpu.grads.length, cpu.grads.length);
      assert.ok(cpu.grads.length > 0);
      cpu.grads.forEach((grad, i) => assert.ok(relativeError(gpu.grads[i], grad) < 1e-4, `gradient ${i} differs by ${relativeError(gpu.grads[i], grad)}`));
      if (cpu.routerGrad) {
        assert.ok(
          Math.abs(gpu.routerLoss! - cpu.routerLoss!) < 1e-5 * Math.max(1, Math.abs(cpu.routerLoss!)),
          `router loss ${gpu.routerLoss} vs ${cpu.routerLoss}`,
        );
        assert.ok(relativeError(gpu.routerGrad!, cpu.routerGrad) < 1e-4, `router gradient differs by ${relativeError(gpu.routerGrad!, cpu.routerGrad)}`);
      }
    });
  }
});
