import * as tf from '@tensorflow/tfjs-core';
import type { PatchDataset } from '../data/dataset.js';
import type { PatchModel } from '../models/patch-model.js';
import { forEachBatch } from '../data/batches.js';
import { classificationLoss, predictions } from './loss.js';

export interface Evaluation {
  readonly loss: number;
  /** Share of samples classified correctly, in [0, 1]. */
  readonly accuracy: number;
}

/** Mean loss and accuracy of `model` over the whole set. */
export function evaluate(model: PatchModel, data: PatchDataset, batchSize = 500): Evaluation {
  let lossSum = 0;
  let correct = 0;
  forEachBatch(data, batchSize, (batch) => {
    const [loss, hits] = tf.tidy(() => {
      const logits = model.forward(batch.patches);
      return [tf.mul(classificationLoss(logits, batch.labels), batch.labels.shape[0]), tf.sum(tf.cast(tf.equal(predictions(logits), batch.labels), 'int32'))];
    });
    lossSum += loss.dataSync()[0];
    correct += hits.dataSync()[0];
    loss.dispose();
    hits.dispose();
  });
  return { loss: lossSum / data.count, accuracy: correct / data.count };
}

/** The predicted class of every sample. */
export function predictClasses(model: PatchModel, data: PatchDataset, batchSize = 500): Int32Array {
  const predicted = new Int32Array(data.count);
  forEachBatch(data, batchSize, (batch, start) => {
    const classes = tf.tidy(() => predictions(model.forward(batch.patches)));
    predicted.set(classes.dataSync() as Int32Array, start);
    classes.dispose();
  });
  return predicted;
}
