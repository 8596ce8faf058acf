import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine } from '../../src/engine/backend.js';
import { PatchMoE, patchMoE } from '../../src/routing/patch-moe-layer.js';

const shape = [4, 4, 3];
const args = { patchSize: 2, experts: 3, patchesPerExpert: 2, filtersPerExpert: 2 };

function built(layer: PatchMoE): PatchMoE {
  layer.build([null, ...shape]);
  return layer;
}

const weightValues = (layer: PatchMoE) =>
  Object.fromEntries(layer.weights.map((w) => [/(router|expert\d+)\/\w+$/.exec(w.originalName)![0], Array.from(w.read().dataSync())]));

describe('PatchMoE as a tfjs user meets it', () => {
  it('patchMoE(args) makes the layer; default names read patch_moe_<n> and differ', async () => {
    await initEngine('cpu');
    const [a, b] = [patchMoE(args), patchMoE(args)];
    assert.ok(a instanceof PatchMoE);
    assert.match(a.name, /^patch_moe_\d+$/);
    assert.notEqual(a.name, b.name);
    assert.equal(patchMoE({ ...args, name: 'mine' }).name, 'mine');
  });

  it('initialisers: an Initializer instance, a name or the serialised form; seeded ones give each expert its own draw, the same every time', async () => {
    await initEngine('cpu');
    // Expert weights only: the router's initialiser is left unseeded here.
    const make = (kernelInitializer: ConstructorParameters<typeof PatchMoE>[0]['kernelInitializer']) =>
      Object.fromEntries(Object.entries(weightValues(built(patchMoE({ ...args, kernelInitializer })))).filter(([name]) => name.startsWith('expert')));
    const instance = make(tfl.initializers.heUniform({ seed: 11 }));
    assert.deepEqual(make(tfl.initializers.heUniform({ seed: 11 })), instance);
    assert.notDeepEqual(instance['expert0/kernel'], instance['expert1/kernel']);
    assert.notDeepEqual(make(tfl.initializers.heUniform({ seed: 12 }))['expert0/kernel'], instance['expert0/kernel']);
    assert.deepEqual(
      make({ className: 'VarianceScaling', config: { scale: 2, mode: 'fanIn', distribution: 'uniform', seed: 11 } })['expert2/kernel'],
      instance['expert2/kernel'],
    );
    const zeros = make('zeros');
    assert.ok(zeros['expert1/kernel'].every((v) => v === 0));
    const unseeded = make(tfl.initializers.glorotNormal({}));
    assert.notDeepEqual(unseeded['expert0/kernel'], unseeded['expert1/kernel']);
    assert.throws(() => patchMoE({ ...args, kernelInitializer: 'nope' as never }), /kernelInitializer/);
  });

  it('getConfig writes initialisers as tfjs layers do, and the config builds the same layer back', async () => {
    await initEngine('cpu');
    const layer = patchMoE({ ...args, kernelInitializer: 'heNormal', routerInitializer: tfl.initializers.randomNormal({ stddev: 0.5, seed: 3 }), seed: 4 });
    const config = layer.getConfig();
    const dense = tfl.layers.dense({ units: 2, kernelInitializer: 'heNormal' }).getConfig();
    assert.deepEqual(config.kernelInitializer, dense.kernelInitializer);
    assert.deepEqual((config.routerInitializer as { className: string }).className, 'RandomNormal');

    const model = tfl.sequential({ layers: [tfl.layers.inputLayer({ inputShape: shape }), layer] });
    const copy = (await tfl.models.modelFromJSON({ modelTopology: model.toJSON(null, false) as object } as never)) as tfl.LayersModel;
    const copied = copy.layers.find((l) => l instanceof PatchMoE) as PatchMoE;
    assert.deepEqual(copied.getConfig(), { ...config, name: copied.name });
    assert.deepEqual(weightValues(copied), weightValues(layer), 'seeded settings rebuild the same initial weights');
    tf.dispose([model, copy] as never);
  });

  it('a wrong input names the feature map the layer was built for', async () => {
    await initEngine('cpu');
    const layer = built(patchMoE(args));
    for (const input of [tf.zeros([2, 4, 4, 2]), tf.zeros([2, 2, 2, 3]), tf.zeros([2, 48])]) {
      assert.throws(
        () => layer.routing(input as tf.Tensor4D),
        (error: Error) =>
          error instanceof RangeError &&
          error.message.includes(`PatchMoE.routing: input must be a feature map [batch, 4, 4, 3]`) &&
          error.message.includes(`got [${input.shape.join(', ')}]`),
      );
      assert.throws(() => layer.apply(input), /PatchMoE\.call: input must be a feature map \[batch, 4, 4, 3\]/);
      input.dispose();
    }
  });

  it("trains and predicts without initEngine on the cpu backend: the router's route op carries its own gradient (no TopK gradient needed)", () => {
    // A fresh process: this one has the kernels installed.
    const entry = new URL('../../src/index.js', import.meta.url).href;
    const script = `
      import * as tf from '@tensorflow/tfjs-core';
      import * as tfl from '@tensorflow/tfjs-layers';
      const { patchMoE } = await import(${JSON.stringify(entry)});
      const model = tfl.sequential({ layers: [tfl.layers.inputLayer({ inputShape: [4, 4, 3] }), patchMoE(${JSON.stringify(args)}), tfl.layers.flatten(), tfl.layers.dense({ units: 2 })] });
      model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
      const predicted = model.predict(tf.ones([2, 4, 4, 3])).shape;
      let error = 'none';
      try { await model.fit(tf.ones([2, 4, 4, 3]), tf.ones([2, 2]), { epochs: 1, verbose: 0 }); } catch (e) { error = e.message; }
      console.log(JSON.stringify({ predicted, error }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
      cwd: fileURLToPath(new URL('../../../', import.meta.url)),
    });
    assert.equal(child.status, 0, child.stderr);
    const { predicted, error } = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { predicted: number[]; error: string };
    assert.deepEqual(predicted, [2, 2]);
    assert.equal(error, 'none');
  });
});
