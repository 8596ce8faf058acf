import { tf } from '../src/engine/backend.js';
import type { FusedTrainer } from '../src/training/fused.js';
import { classificationLoss } from '../src/training/loss.js';
import type { WireTensor } from './wire.js';

/** What the PyTorch peer needs to build the same workload (bench/reference/peer.py, `setup`). */
export interface TorchSetup {
  readonly kind: 'cnn' | 'pmoe' | 'wrn-pmoe' | 'wrn-pmoe-epoch' | 'patch-moe' | 'dense-conv' | 'matmul';
  readonly config: Record<string, unknown>;
  /** pmoe's initial weights, in pmoe's layouts, so that both sides start from the same numbers. */
  readonly weights?: Record<string, WireTensor>;
  readonly inputs?: Record<string, WireTensor>;
}

/**
 * One thing timed on both sides: a training step (SGD on the logistic loss), a forward pass, or a
 * whole epoch. `step` is the timed unit on the pmoe side; the wasm backend runs its kernels
 * synchronously, so the step's work is done when the call returns (or its promise settles).
 */
export interface Workload {
  readonly id: string;
  readonly title: string;
  /** Analytic FLOPs of one step (see flops.ts). */
  readonly flops: number;
  /** The FLOPs pmoe's kernels do instead (Winograd's convolutions multiply less: flops.ts's performedFlops), where they differ. */
  readonly performedFlops?: number;
  readonly training: boolean;
  step(): void | Promise<void>;
  /** Steps per timed block and warm-up steps, where they differ from the bench's (an epoch: 1). */
  readonly stepsPerBlock?: number;
  /** One forward pass on the current weights: the logits (models) or the layer's output. */
  output(): Float32Array;
  /** Models only: the loss on the benchmark batch. */
  loss?(): number;
  /** Models only: gradients of the loss w.r.t. the trainable weights, by the names the peer uses. */
  grads?(): Record<string, Float32Array>;
  /** Absent when the workload has no PyTorch side. */
  readonly torch?: TorchSetup;
  dispose(): void;
}

/** What a training workload trains: the two-layer models (patches [B, n, d]) or an adapted layers model (images). */
export interface PatchModelLike {
  forward(x: tf.Tensor): tf.Tensor2D;
  trainableVariables(): tf.Variable[];
  dispose(): void;
}

/**
 * A training workload: the library's model trained by `tf.train.sgd(lr)` on one fixed batch,
 * step = optimizer.minimize(() => classificationLoss(model.forward(x), y), false, variables).
 */
export function trainingWorkload(args: {
  id: string;
  title: string;
  flops: number;
  performedFlops?: number;
  model: PatchModelLike;
  /** Names (as the peer reports gradients) of model.trainableVariables(), in order. */
  variableNames: string[];
  x: tf.Tensor;
  labels: tf.Tensor1D;
  learningRate: number;
  torch?: TorchSetup;
}): Workload {
  const { model, x, labels } = args;
  const optimizer = tf.train.sgd(args.learningRate);
  const lossOf = () => classificationLoss(model.forward(x), labels);
  return {
    id: args.id,
    title: args.title,
    flops: args.flops,
    performedFlops: args.performedFlops,
    training: true,
    torch: args.torch,
    step: () => {
      optimizer.minimize(lossOf, false, model.trainableVariables());
    },
    output: () => readAndDispose(tf.tidy(() => model.forward(x))),
    loss: () => {
      const value = tf.tidy(lossOf);
      const result = value.dataSync()[0];
      value.dispose();
      return result;
    },
    grads: () => {
      const variables = model.trainableVariables();
      const { value, grads } = tf.variableGrads(lossOf, variables);
      const named: Record<string, Float32Array> = {};
      variables.forEach((variable, i) => {
        named[args.variableNames[i]] = (grads[variable.name].dataSync() as Float32Array).slice();
      });
      tf.dispose([value, ...Object.values(grads)]);
      return named;
    },
    dispose: () => {
      optimizer.dispose();
      model.dispose();
      tf.dispose([x, labels]);
    },
  };
}

/**
 * A training workload on the fused path (src/training/fused*.ts), the one training runs take:
 * step = trainer.step(samples), with the trainer built on the benchmark batch as its data set.
 */
export function fusedWorkload(args: {
  id: string;
  title: string;
  flops: number;
  trainer: FusedTrainer;
  /** The batch: every sample of the trainer's set, in order. */
  samples: number[];
  torch?: TorchSetup;
  dispose(): void;
}): Workload {
  const { trainer, samples } = args;
  return {
    id: args.id,
    title: args.title,
    flops: args.flops,
    training: true,
    torch: args.torch,
    step: () => trainer.step(samples),
    output: () => trainer.logits(samples),
    loss: () => trainer.gradients(samples).loss,
    grads: () => trainer.gradients(samples).grads,
    dispose: args.dispose,
  };
}

/** The values of a float tensor (a copy), disposing the tensor. */
export function readAndDispose(tensor: tf.Tensor): Float32Array {
  const values = (tensor.dataSync() as Float32Array).slice();
  tensor.dispose();
  return values;
}
