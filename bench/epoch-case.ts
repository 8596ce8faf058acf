import { tf } from '../src/engine/backend.js';
import { modelFlops } from '../src/analysis/flops.js';
import { loadImageData } from '../src/data/image-source.js';
import { buildWrnPmoe, WRN_PMOE_CIFAR, wrnPmoeSchema } from '../src/models/wide-resnet.js';
import { describeWrnModel } from '../src/models/wrn-layers.js';
import { trainImageModel } from '../src/training/train-image-model.js';
import type { StepPath } from '../src/training/train.js';
import { type ImageSplit } from '../src/data/image-split.js';
import { performedFlops } from './flops.js';
import { encodeTensor, type WireTensor } from './wire.js';
import { readAndDispose, type Workload } from './workload.js';

/**
 * f. One whole WRN-pMoE epoch at the `wrn-mnist` experiment's setting, evaluation included, as a
 * sweep runs it: `trainImageModel` for one epoch (N training images of MNIST quadrants, 32x32x1,
 * 4 classes, batches of 32, SGD lr 0.1, batch norm momentum 0.9, widening factor 1, the CIFAR
 * pMoE setting), then the inference-mode evaluation of the test images in batches of 256.
 * N = 1000 is the middle of the experiment's sizes (250-2000); smoke mode takes 64 and 64.
 * `path`: autodiff forces trainImageModel's tfjs path; otherwise it picks its own (fused on wasm).
 */
export const EPOCH_SETTING = { trainSize: 1000, testSize: 1000, batchSize: 32, evalBatchSize: 256, learningRate: 0.1, momentum: 0.9 } as const;
export const SMOKE_EPOCH_SIZES = { trainSize: 64, testSize: 64 } as const;
/** Test images whose inference-mode logits the agreement check compares. */
const CHECKED_IMAGES = 32;

function wireSplit(split: ImageSplit): { x: WireTensor; labels: WireTensor } {
  return { x: encodeTensor(split.images, split.shape), labels: encodeTensor(split.labels, [split.labels.length]) };
}

export async function wrnEpochCase(smoke: boolean, path: StepPath = 'fused'): Promise<Workload> {
  const { trainSize, testSize } = smoke ? SMOKE_EPOCH_SIZES : EPOCH_SETTING;
  const { batchSize, evalBatchSize, learningRate, momentum } = EPOCH_SETTING;
  const data = await loadImageData({ source: 'mnist-quadrants', trainSize, testSize, seed: 0 });
  const [, size, , channels] = data.train.shape;
  const classes = data.classNames.length;
  const options = { ...WRN_PMOE_CIFAR, wideningFactor: 1, classes, inputSize: size, channels, batchNormMomentum: momentum, seed: 0 };
  const model = buildWrnPmoe(options);
  // On webgpu trainImageModel trains these layers with pmoe's own step, as a sweep does.
  const layers = describeWrnModel({ architecture: 'wrn-pmoe', ...wrnPmoeSchema.parse(options) });
  const weights: Record<string, WireTensor> = {};
  for (const weight of model.weights) weights[weight.originalName] = encodeTensor(weight.read().dataSync() as Float32Array, weight.shape as number[]);
  const checked = tf.tensor4d(data.test.images.subarray(0, CHECKED_IMAGES * size * size * channels), [CHECKED_IMAGES, size, size, channels]);
  const flops = modelFlops(model, 1);
  // Per image: the training steps' batches and the evaluation's differ, and so may their convolutions' algorithms.
  const performedTraining = performedFlops(model, batchSize).trainStep / batchSize;
  const performedTest = performedFlops(model, evalBatchSize).forward / evalBatchSize;
  let epochs = 0;
  const train = wireSplit(data.train);
  const test = wireSplit(data.test);
  return {
    id: 'f',
    title: `WRN-pMoE epoch, wrn-mnist: N=${trainSize} + ${testSize} test, B=${batchSize}, w=1, k=4x16, l=16`,
    flops: flops.trainStep * trainSize + flops.forward * testSize,
    performedFlops: performedTraining * trainSize + performedTest * testSize,
    training: false,
    // An epoch is seconds long: blocks of one.
    stepsPerBlock: 1,
    step: async () => {
      await trainImageModel(model, data, {
        epochs: 1,
        batchSize,
        learningRate,
        evalBatchSize,
        seed: epochs++,
        layers,
        ...(path === 'autodiff' ? { step: 'autodiff' } : {}),
      });
    },
    output: () => readAndDispose(tf.tidy(() => model.apply(checked, { training: false }) as tf.Tensor)),
    torch: {
      kind: 'wrn-pmoe-epoch',
      config: {
        lr: learningRate,
        momentum,
        epsilon: 1e-3,
        experts: WRN_PMOE_CIFAR.experts,
        patchesPerExpert: WRN_PMOE_CIFAR.patchesPerExpert,
        classes,
        channels,
        batchSize,
        evalBatchSize,
        checkedImages: CHECKED_IMAGES,
      },
      weights,
      inputs: { x: train.x, labels: train.labels, testX: test.x, testLabels: test.labels },
    },
    dispose: () => {
      model.dispose();
      checked.dispose();
    },
  };
}
