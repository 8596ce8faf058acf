import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { initEngine, tf } from '../../src/engine/backend.js';
import { releaseWebgpu } from '../../src/engine/webgpu/dawn.js';
import { GATE_MODES } from '../../src/routing/gate.js';
import { PatchMoE } from '../../src/routing/patch-moe-layer.js';
import { freshRng } from '../support/random.js';
import { relativeError } from '../support/relative-error.js';
import { webgpuSkipReason } from '../support/webgpu-adapter.js';

const SHAPE = [2, 6, 4, 3];

/** Output, and gradients of sum(output * probe) for every weight, of one layer built the same way on a backend. */
function run(layer: PatchMoE, inputs: Float32Array, probe: Float32Array) {
  const x = tf.tensor4d(inputs, SHAPE as [number, number, number, number]);
  const p = tf.tensor(probe, layer.computeOutputShape(SHAPE) as number[]);
  const output = layer.apply(x) as tf.Tensor;
  const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(x) as tf.Tensor, p)) as tf.Scalar, variables);
  return {
    output,
    value,
    grads: variables.map((v) => grads[v.name]).filter((g) => g !== undefined),
    dispose: () => tf.dispose([x, p, output, value, ...Object.values(grads)]),
  };
}

describe('PatchMoE on webgpu', async () => {
  const skip = await webgpuSkipReason();
  after(() => releaseWebgpu());
  for (const kernelSize of [1, 3]) {
    for (const gate of GATE_MODES) {
      it(
        `reads nothing back to the host in a forward and backward pass, and agrees with cpu (${kernelSize}x${kernelSize} experts, gate ${gate})`,
        { skip },
        async () => {
          const rng = freshRng(`webgpu-patch-moe-${kernelSize}-${gate}`);
          const seed = rng.int(100000);
          const build = () => new PatchMoE({ patchSize: 2, experts: 2, patchesPerExpert: 3, filtersPerExpert: 4, kernelSize, gate, seed });
          const inputs = Float32Array.from({ length: SHAPE.reduce((a, b) => a * b) }, () => rng.normal());
          const probe = Float32Array.from({ length: (inputs.length / 3) * 8 }, () => rng.normal());

          await initEngine('cpu');
          const cpuLayer = build();
          const cpu = run(cpuLayer, inputs, probe);
          const expected = { output: cpu.output.dataSync(), grads: cpu.grads.map((g) => g.dataSync()) };

          await initEngine('webgpu');
          const layer = build();
          tf.dispose(layer.apply(tf.zeros(SHAPE)) as tf.Tensor); // build the weights outside the watched pass
          // Every synchronous read on webgpu, from a tensor or from inside a kernel, goes through the
          // backend's readSync; it waits for the device unless the values are still on the host (a
          // small constant such as tf.ones, which kernels may compute on the CPU).
          const backend = tf.backend() as tf.KernelBackend & { tensorMap: { get(dataId: object): { values?: unknown } } };
          const readSync = backend.readSync;
          let reads = 0;
          backend.readSync = function (this: tf.KernelBackend, dataId: object) {
            if (backend.tensorMap.get(dataId).values == null) reads++;
            return readSync.call(this, dataId);
          };
          let gpu: ReturnType<typeof run>;
          try {
            gpu = run(layer, inputs, probe);
          } finally {
            backend.readSync = readSync;
          }
          assert.equal(reads, 0, 'reads from the device in the forward and backward pass');
          assert.ok(relativeError(await gpu.output.data(), expected.output) < 1e-5, 'outputs');
          assert.equal(gpu.grads.length, expected.grads.length);
          for (const [i, g] of gpu.grads.entries()) assert.ok(relativeError(await g.data(), expected.grads[i]) < 1e-4, `gradient ${i}`);
          gpu.dispose();
          layer.dispose();
          await initEngine('cpu');
          cpu.dispose();
          cpuLayer.dispose();
        },
      );
    }
  }
});
