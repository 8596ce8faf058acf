/**
 * The training loss: mean softmax cross-entropy of logits [batch, classes] against integer labels,
 * its gradient dlogits = (softmax - onehot) / batch, and the step's metrics added on the GPU, so
 * that nothing is read back per step: metrics = [sum of the images' losses, correct predictions
 * (argmax, the first of equal maxima, as tf.argMax), images] accumulate until the trainer reads
 * and clears them. One workgroup, the batch summed in a fixed order.
 */
import { checkSizes, declareAll, f32, u32, WORKGROUP_SIZE, type WgslKernel } from './kernel.js';

const BINDINGS = [
  { name: 'logits', kind: 'read' },
  { name: 'labels', kind: 'read', type: 'array<u32>' },
  { name: 'dlogits', kind: 'write' },
  { name: 'metrics', kind: 'write' },
] as const;

/** Words of the metrics buffer. */
export const METRIC_WORDS = 3;

export function softmaxCrossEntropyKernel(attrs: { batch: number; classes: number }): WgslKernel {
  checkSizes('softmax-cross-entropy', attrs);
  const code = `${declareAll(BINDINGS)}
const B = ${u32(attrs.batch)};
const K = ${u32(attrs.classes)};
var<workgroup> lossSum: array<f32, ${WORKGROUP_SIZE}>;
var<workgroup> hitSum: array<f32, ${WORKGROUP_SIZE}>;
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(local_invocation_index) li: u32) {
  var loss = 0.0;
  var hits = 0.0;
  for (var b = li; b < B; b = b + ${u32(WORKGROUP_SIZE)}) {
    var peak = logits[b * K];
    var best = 0u;
    for (var j = 1u; j < K; j = j + 1u) {
      let v = logits[b * K + j];
      if (v > peak) { peak = v; best = j; }
    }
    var total = 0.0;
    for (var j = 0u; j < K; j = j + 1u) { total = total + exp(logits[b * K + j] - peak); }
    let label = labels[b];
    loss = loss + log(total) + peak - logits[b * K + label];
    hits = hits + select(0.0, 1.0, best == label);
    for (var j = 0u; j < K; j = j + 1u) {
      let p = exp(logits[b * K + j] - peak) / total;
      dlogits[b * K + j] = (p - select(0.0, 1.0, j == label)) * ${f32(1 / attrs.batch)};
    }
  }
  lossSum[li] = loss;
  hitSum[li] = hits;
  workgroupBarrier();
  if (li == 0u) {
    var totalLoss = 0.0;
    var totalHits = 0.0;
    for (var t = 0u; t < ${u32(WORKGROUP_SIZE)}; t = t + 1u) {
      totalLoss = totalLoss + lossSum[t];
      totalHits = totalHits + hitSum[t];
    }
    metrics[0] = metrics[0] + totalLoss;
    metrics[1] = metrics[1] + totalHits;
    metrics[2] = metrics[2] + f32(B);
  }
}
`;
  return { name: `softmax-cross-entropy ${attrs.batch}x${attrs.classes}`, code, bindings: BINDINGS, workgroups: [1, 1, 1] };
}
