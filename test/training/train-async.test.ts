import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { makeSyntheticSplit } from '../../src/data/synthetic.js';
import { earlyStopping, trainModel, trainModelAsync, type EpochMetrics, type TrainingCallback } from '../../src/training/train.js';
import { OptionError } from '../../src/util/options.js';

const { train, test } = makeSyntheticSplit({ n: 8, d: 16, seed: 5 }, 40, 40);
const weights = (model: { namedWeights(): Record<string, { dataSync(): ArrayLike<number> }> }) =>
  Object.fromEntries(Object.entries(model.namedWeights()).map(([name, w]) => [name, Array.from(w.dataSync())]));

describe('trainModelAsync: the training as a Promise with Keras-style callbacks', () => {
  it('gives what trainModel gives, and calls onTrainBegin, onEpoch, onEpochEnd (awaited, with the epoch metrics) and onTrainEnd in order', async () => {
    await initEngine('wasm');
    for (const model of ['separate', 'joint'] as const) {
      const options = { model, epochs: 3, routerEpochs: 2, evalEvery: 2, seed: 4 };
      const sync = trainModel({ patchesPerExpert: 2 }, train, test, options);
      const calls: string[] = [];
      const callback: TrainingCallback = {
        onTrainBegin: () => void calls.push('begin'),
        onEpoch: (phase, epoch) => void calls.push(`${phase} ${epoch}`),
        onEpochEnd: async (epoch, logs) => {
          await new Promise((resolve) => setImmediate(resolve));
          calls.push(`end ${epoch} ${logs ? logs.testAccuracy : '-'}`);
        },
        onTrainEnd: (result) => void calls.push(`done ${result.epochs.length}`),
      };
      const fitted = await trainModelAsync({ patchesPerExpert: 2 }, train, test, options, callback);
      assert.deepEqual(fitted.epochs, sync.epochs);
      assert.deepEqual(fitted.routingRate, sync.routingRate);
      assert.deepEqual(weights(fitted.model), weights(sync.model));
      const [second, third] = [sync.epochs[0].testAccuracy, sync.epochs[1].testAccuracy];
      const phase = model === 'separate' ? 'experts' : 'model';
      assert.deepEqual(calls, [
        'begin',
        ...(model === 'separate' ? ['routers 1', 'routers 2'] : []),
        `${phase} 1`,
        'end 1 -',
        `${phase} 2`,
        `end 2 ${second}`,
        `${phase} 3`,
        `end 3 ${third}`,
        'done 2',
      ]);
      sync.model.dispose();
      fitted.model.dispose();
    }
  });

  it('earlyStopping stops after `patience` evaluated epochs without improvement; the weights are those trainModel has after as many epochs', async () => {
    await initEngine('wasm');
    // No later epoch can improve by a billion: the first sets the best, and the (patience + 1)-th after it stops.
    const stop = earlyStopping({ monitor: 'testAccuracy', minDelta: 1e9, patience: 2 });
    const fitted = await trainModelAsync({}, train, test, { epochs: 20, seed: 2 }, [stop]);
    assert.equal(stop.stoppedEpoch, 4);
    assert.equal(fitted.epochs.length, 4);
    const sync = trainModel({}, train, test, { epochs: 4, seed: 2 });
    assert.deepEqual(fitted.epochs, sync.epochs);
    assert.deepEqual(weights(fitted.model), weights(sync.model));
    // A callback may stop training itself.
    const own = await trainModelAsync(
      {},
      train,
      test,
      { epochs: 20, seed: 2 },
      {
        onEpochEnd: (epoch: number, _logs: EpochMetrics | undefined, control) => void (control.stopTraining = epoch === 2),
      },
    );
    assert.deepEqual(own.epochs, sync.epochs.slice(0, 2));
    for (const model of [fitted.model, sync.model, own.model]) model.dispose();
  });

  it('earlyStopping watches the metric it is told, the right way round', async () => {
    const epochs = [0.5, 0.4, 0.45, 0.3, 0.35, 0.36].map((testLoss, i) => ({
      epoch: i + 1,
      testLoss,
      testAccuracy: 1 - testLoss,
      trainLoss: 0,
      trainAccuracy: 0,
    }));
    const stopsAt = (options: Parameters<typeof earlyStopping>[0]) => {
      const callback = earlyStopping(options);
      const control = { stopTraining: false };
      callback.onTrainBegin?.(control);
      for (const logs of epochs) {
        void callback.onEpochEnd?.(logs.epoch, logs, control);
        if (control.stopTraining) break;
      }
      return callback.stoppedEpoch;
    };
    assert.equal(stopsAt({ patience: 0 }), 3); // testLoss rises at epoch 3
    assert.equal(stopsAt({ patience: 1 }), 6); // best 0.3 at 4, then two epochs worse
    assert.equal(stopsAt({ monitor: 'testAccuracy', patience: 0 }), 3); // accuracy is maximised
    assert.equal(stopsAt({ patience: 5 }), undefined);
    assert.equal(stopsAt({ patience: 0, minDelta: 0.12 }), 2); // 0.4 is not 0.12 below 0.5
    assert.throws(
      () => earlyStopping({ monitor: 'accuracy' as never }),
      (error: Error) => error instanceof OptionError && /earlyStopping\.monitor/.test(error.message),
    );
    assert.throws(() => earlyStopping({ patience: -1 }), OptionError);
  });

  it('a callback that throws rejects the Promise with its error', async () => {
    await initEngine('wasm');
    const failing = trainModelAsync(
      {},
      train,
      test,
      { epochs: 5 },
      {
        onEpochEnd: (epoch: number) => {
          if (epoch === 2) throw new Error('stop here');
        },
      },
    );
    await assert.rejects(failing, /stop here/);
  });
});
