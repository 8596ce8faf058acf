import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { tf } from '../../../src/engine/backend.js';
import { releaseWebgpu } from '../../../src/engine/webgpu/dawn.js';
import { biasGradientKernels } from '../../../src/kernels/wgsl/bias-gradient.js';
import { convFilterGradientKernels } from '../../../src/kernels/wgsl/conv-filter-gradient.js';
import { convForwardKernel } from '../../../src/kernels/wgsl/conv-forward.js';
import { convInputGradientKernels } from '../../../src/kernels/wgsl/conv-input-gradient.js';
import { expertChoiceKernel } from '../../../src/kernels/wgsl/expert-choice.js';
import { expertOutputGradientKernel } from '../../../src/kernels/wgsl/expert-output-gradient.js';
import { gateGradientKernel } from '../../../src/kernels/wgsl/gate-gradient.js';
import { gatherPatchesKernel } from '../../../src/kernels/wgsl/gather-patches.js';
import { patchInputGradientKernel } from '../../../src/kernels/wgsl/patch-input-gradient.js';
import { patchMoeGeometry, type GateKind, type PatchMoeShape } from '../../../src/kernels/wgsl/patch-layout.js';
import { placePatchesKernel } from '../../../src/kernels/wgsl/place-patches.js';
import { routerGradientKernels } from '../../../src/kernels/wgsl/router-gradient.js';
import { routerScoresKernel } from '../../../src/kernels/wgsl/router-scores.js';
import { topL, writeGates } from '../../../src/routing/expert-choice-core.js';
import { PatchMoE } from '../../../src/routing/patch-moe-layer.js';
import { download, kernelTestDevice, output, runKernels, scaledError, upload } from '../../support/gpu-kernels.js';
import { freshRng } from '../../support/random.js';

interface Setting {
  readonly label: string;
  readonly shape: Omit<PatchMoeShape, 'gate'>;
  readonly kernelSize: number;
}

const SETTINGS: Setting[] = [
  {
    label: 'CIFAR-style: 1x1 patches, 1x1 experts',
    shape: { batch: 3, height: 4, width: 4, channels: 6, patchHeight: 1, patchWidth: 1, experts: 4, patchesPerExpert: 5, filtersPerExpert: 3 },
    kernelSize: 1,
  },
  {
    label: 'CelebA-style: 2x2 patches, 3x3 experts',
    shape: { batch: 2, height: 4, width: 6, channels: 5, patchHeight: 2, patchWidth: 2, experts: 3, patchesPerExpert: 2, filtersPerExpert: 4 },
    kernelSize: 3,
  },
];
const GATES: GateKind[] = ['softmax-selected', 'softmax-all', 'hard'];

describe('the WGSL patch-level MoE (routing, gates, gather, experts, placement and every gradient) agrees with the PatchMoE layer on cpu', async () => {
  const { runner, skip } = await kernelTestDevice();
  after(() => releaseWebgpu());
  for (const setting of SETTINGS) {
    for (const gate of GATES) {
      it(`${setting.label}, ${gate} gates`, { skip }, async () => {
        const gpu = runner!;
        const shape: PatchMoeShape = { ...setting.shape, gate };
        const g = patchMoeGeometry(shape);
        const rng = freshRng(`wgsl-moe-${setting.label}-${gate}`);
        const gauss = (length: number, std = 1) => Float32Array.from({ length }, () => std * rng.normal());
        const { kernelSize } = setting;
        const kernelFloats = kernelSize * kernelSize * g.channels * g.filtersPerExpert;
        // Group strides with padding, as the step lays weights out.
        const kernelStride = kernelFloats + 3;
        const biasStride = g.filtersPerExpert + 2;
        const z = gauss(g.batch * g.height * g.width * g.channels);
        const router = gauss(g.patchValues * g.experts);
        const kernels = Array.from({ length: g.experts }, () => gauss(kernelFloats, 0.5));
        const biases = Array.from({ length: g.experts }, () => gauss(g.filtersPerExpert, 0.5));
        const probe = gauss(g.batch * g.height * g.width * g.experts * g.filtersPerExpert);

        // The reference: the PatchMoE layer with these weights, autodiff on cpu.
        const layer = new PatchMoE({
          patchSize: [g.patchHeight, g.patchWidth],
          experts: g.experts,
          patchesPerExpert: g.patchesPerExpert,
          filtersPerExpert: g.filtersPerExpert,
          kernelSize,
          gate,
          seed: 1,
        });
        const zShape = [g.batch, g.height, g.width, g.channels] as [number, number, number, number];
        const expected = tf.tidy(() => {
          const zv = tf.variable(tf.tensor4d(z, zShape));
          layer.apply(zv);
          layer.setWeights([
            tf.tensor2d(router, [g.patchValues, g.experts]),
            ...kernels.flatMap((k, s) => [tf.tensor4d(k, [kernelSize, kernelSize, g.channels, g.filtersPerExpert]), tf.tensor1d(biases[s])]),
          ]);
          const routing = layer.routing(zv);
          const y = layer.apply(zv) as tf.Tensor;
          const variables = [zv, ...layer.trainableWeights.map((w) => w.read() as tf.Variable)];
          const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(zv) as tf.Tensor, tf.tensor(probe, y.shape))) as tf.Scalar, variables);
          const gradient = (v: tf.Variable) => (grads[v.name] ? grads[v.name].dataSync() : new Float32Array(v.size));
          return {
            chosen: routing.indices.dataSync(),
            gates: routing.gates.dataSync(),
            y: y.dataSync(),
            grads: variables.map(gradient),
          };
        });
        layer.dispose();

        const zb = upload(gpu, z);
        const rb = upload(gpu, router);
        const wb = upload(gpu, new Float32Array(g.experts * kernelStride));
        const bb = upload(gpu, new Float32Array(g.experts * biasStride));
        const wValues = new Float32Array(g.experts * kernelStride);
        const bValues = new Float32Array(g.experts * biasStride);
        kernels.forEach((k, s) => wValues.set(k, s * kernelStride));
        biases.forEach((b, s) => bValues.set(b, s * biasStride));
        gpu.device.queue.writeBuffer(wb, 0, wValues);
        gpu.device.queue.writeBuffer(bb, 0, bValues);
        const dy = upload(gpu, probe);
        const scores = output(gpu, g.batch * g.patches * g.experts);
        const chosen = output(gpu, g.batch * g.experts * g.patchesPerExpert);
        const gates = output(gpu, g.batch * g.experts * g.patchesPerExpert);
        const lse = output(gpu, g.batch * g.experts);
        const slot = output(gpu, g.batch * g.experts * g.patches);
        const gatheredFloats = g.experts * g.slots * g.patchValues;
        const expertFloats = g.experts * g.slots * g.pixels * g.filtersPerExpert;
        const gathered = output(gpu, gatheredFloats);
        const expertOut = output(gpu, expertFloats);
        const y = output(gpu, probe.length);
        const dExpertOut = output(gpu, expertFloats);
        const dGates = output(gpu, g.batch * g.experts * g.patchesPerExpert);
        const db = output(gpu, g.experts * biasStride);
        const dw = output(gpu, g.experts * kernelStride);
        const dGathered = output(gpu, gatheredFloats);
        const dScores = output(gpu, g.batch * g.patches * g.experts);
        const dRouter = output(gpu, router.length);
        const dz = output(gpu, z.length);
        const conv = {
          batch: g.slots,
          inHeight: g.patchHeight,
          inWidth: g.patchWidth,
          inChannels: g.channels,
          outChannels: g.filtersPerExpert,
          kernelSize,
          stride: 1,
          padding: 'same' as const,
          groups: g.experts,
          kernelGroupStride: kernelStride,
          biasGroupStride: biasStride,
        };
        const bias = biasGradientKernels({ rows: g.slots * g.pixels, channels: g.filtersPerExpert, groups: g.experts, outGroupStride: biasStride });
        const filter = convFilterGradientKernels(conv, 2);
        const routerGradient = routerGradientKernels(shape, 2);
        const partials = output(gpu, Math.max(bias.partialFloats, filter.partialFloats, routerGradient.partialFloats));
        await runKernels(gpu, [
          [routerScoresKernel(shape), [zb, rb, scores]],
          [expertChoiceKernel(shape), [scores, chosen, gates, lse, slot]],
          [gatherPatchesKernel(shape), [zb, chosen, gathered]],
          [convForwardKernel(conv), [gathered, wb, bb, expertOut]],
          [placePatchesKernel(shape), [expertOut, gates, slot, y]],
          [expertOutputGradientKernel(shape), [dy, expertOut, chosen, gates, dExpertOut, dGates]],
          [bias.partial, [dExpertOut, db, partials]],
          [bias.finish, [dExpertOut, db, partials]],
          [filter.product, [gathered, dExpertOut, filter.sum ? partials : dw]],
          ...(filter.sum ? [[filter.sum, [partials, dw]] as const] : []),
          ...convInputGradientKernels(conv).map((k) => [k, [dExpertOut, wb, dGathered]] as const),
          [gateGradientKernel(shape), [scores, chosen, gates, lse, dGates, dScores]],
          [routerGradient.product, [zb, dScores, routerGradient.sum ? partials : dRouter]],
          ...(routerGradient.sum ? [[routerGradient.sum, [partials, dRouter]] as const] : []),
          [patchInputGradientKernel(shape), [dGathered, slot, dScores, rb, dz]],
        ]);
        const chosenValues = new Int32Array((await download(gpu, chosen, expected.chosen.length)).buffer);
        assert.deepEqual(Array.from(chosenValues), Array.from(expected.chosen), 'chosen patches');
        const check = (name: string, actual: Float32Array, wanted: ArrayLike<number>, tolerance = 1e-5) => {
          const error = scaledError(actual, wanted);
          assert.ok(error < tolerance, `${name}: relative error ${error.toExponential(2)}`);
        };
        check('gates', await download(gpu, gates, expected.gates.length), expected.gates);
        check('y', await download(gpu, y, probe.length), expected.y);
        const [dzExpected, dRouterExpected, ...expertGrads] = expected.grads;
        check('dz', await download(gpu, dz, z.length), dzExpected, 1e-4);
        check('router gradient', await download(gpu, dRouter, router.length), dRouterExpected, 1e-4);
        const dwValues = await download(gpu, dw, g.experts * kernelStride);
        const dbValues = await download(gpu, db, g.experts * biasStride);
        for (let s = 0; s < g.experts; s++) {
          check(`expert ${s} kernel gradient`, dwValues.subarray(s * kernelStride, s * kernelStride + kernelFloats), expertGrads[2 * s], 1e-4);
          check(`expert ${s} bias gradient`, dbValues.subarray(s * biasStride, s * biasStride + g.filtersPerExpert), expertGrads[2 * s + 1], 1e-4);
        }
      });
    }
  }
  for (const gate of GATES) {
    it(
      `expert choice, scores drawn from three values (many ties; equal scores go to the lower patch index), ${gate} gates: the same patches and gates as expert-choice-core`,
      { skip },
      async () => {
        const gpu = runner!;
        const rng = freshRng(`wgsl-expert-choice-ties-${gate}`);
        const shape: PatchMoeShape = {
          batch: 3,
          height: 4,
          width: 5,
          channels: 1,
          patchHeight: 1,
          patchWidth: 1,
          experts: 3,
          patchesPerExpert: 6,
          filtersPerExpert: 1,
          gate,
        };
        const g = patchMoeGeometry(shape);
        const values = [-0.5, 0, 1.25];
        const scores = Float32Array.from({ length: g.batch * g.patches * g.experts }, () => values[rng.int(3)]);
        const [chosen, gates, lse, slot] = [
          g.batch * g.experts * g.patchesPerExpert,
          g.batch * g.experts * g.patchesPerExpert,
          g.batch * g.experts,
          g.batch * g.experts * g.patches,
        ].map((n) => output(gpu, n));
        await runKernels(gpu, [[expertChoiceKernel(shape), [upload(gpu, scores), chosen, gates, lse, slot]]]);
        const actualChosen = new Int32Array((await download(gpu, chosen, g.batch * g.experts * g.patchesPerExpert)).buffer);
        const actualGates = await download(gpu, gates, g.batch * g.experts * g.patchesPerExpert);
        const actualSlot = new Int32Array((await download(gpu, slot, g.batch * g.experts * g.patches)).buffer);
        const expectedChosen = new Int32Array(actualChosen.length);
        const expectedGates = new Float64Array(actualGates.length);
        for (let b = 0; b < g.batch; b++) {
          for (let s = 0; s < g.experts; s++) {
            const column = { values: scores, base: b * g.patches * g.experts + s, step: g.experts, n: g.patches };
            const selection = { chosen: expectedChosen, gates: expectedGates, at: (b * g.experts + s) * g.patchesPerExpert, l: g.patchesPerExpert };
            topL(column, selection);
            writeGates(gate, column, selection);
          }
        }
        assert.deepEqual(Array.from(actualChosen), Array.from(expectedChosen));
        assert.ok(scaledError(actualGates, expectedGates) < 1e-6);
        for (let i = 0; i < actualSlot.length; i++) {
          const row = Math.floor(i / g.patches);
          const t = Array.from(expectedChosen.subarray(row * g.patchesPerExpert, (row + 1) * g.patchesPerExpert)).indexOf(i % g.patches);
          assert.equal(actualSlot[i], t, `slot ${i}`);
        }
      },
    );
  }
});
