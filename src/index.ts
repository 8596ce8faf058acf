/** pmoe: patch-level Mixture-of-Experts CNNs (Chowdhury et al., ICML 2023) on TensorFlow.js. */
export { initEngine, BACKEND_NAMES, type BackendName } from './engine/backend.js';
export { createRng, type Rng } from './engine/random.js';
export { detach } from './engine/detach.js';

export { GATE_MODES, POOLINGS, type GateMode, type Pooling } from './routing/gate.js';
export { patchify, unpatchify, patchGrid, type PatchSize, type PatchGrid } from './routing/patchify.js';
export { patchScores, route, gatherForExperts, gatesForExperts, routingToArrays, type Routing, type RoutingArrays } from './routing/route.js';
export { PatchMoE, PATCH_MOE_INITIALIZERS, type PatchMoeOptions, type PatchMoeLayerArgs } from './routing/patch-moe-layer.js';
export { TrainingBatchNormalization, trainingBatchNormalization } from './models/batch-norm-layer.js';
export { setGemmThreads } from './engine/gemm-threads.js';
export { expertChoice } from './engine/expert-choice.js';
export { expertOutputs } from './engine/expert-outputs.js';

export { TwoLayerCnn, twoLayerCnnSchema, type TwoLayerCnnOptions, type TwoLayerCnnConfig } from './models/two-layer-cnn.js';
export { TwoLayerPmoe, twoLayerPmoeSchema, type TwoLayerPmoeOptions, type TwoLayerPmoeConfig } from './models/two-layer-pmoe.js';
export { buildModel, paperDefaults, MODEL_KINDS, type ModelKind, type ModelOptions } from './models/build.js';
export { OUTPUT_WEIGHTS, type OutputWeights } from './models/output-weights.js';
export { INIT_SCHEMES, REGIMES, type InitScheme, type Regime } from './models/init.js';
export type { PatchModel, RoutedPatchModel } from './models/patch-model.js';

export { trainModel, trainingSchema, type TrainingOptions, type TrainingResult, type EpochMetrics, type TrainingHooks } from './training/train.js';
export {
  runOnce,
  planImageRun,
  isImageRunSpec,
  isImageRunRecord,
  type RunSpec,
  type RunRecord,
  type PatchRunSpec,
  type PatchRunRecord,
  type ImageRunSpec,
  type ImageRunRecord,
} from './training/run.js';
export { classificationLoss, predictions } from './training/loss.js';
export { routerLinearLoss } from './training/router-loss.js';
export { evaluate, type Evaluation } from './training/evaluate.js';
export { DivergenceError } from './training/sgd.js';

export { type PatchDataset, signedLabel, selectSamples } from './data/dataset.js';
export * from './data/synthetic.js';

export { discriminativeRoutingRate, collectRouting, type RoutingRate, type RoutingCriterion } from './analysis/routing-rate.js';
export { saveModelFiles, loadModelFiles } from './io/model-files.js';
export { OptionError } from './util/options.js';

export { loadMnist } from './data/mnist.js';
export { readIdx, parseIdx, DataFileError } from './data/idx.js';
export { buildMnistPatchPools, takeBalanced, materialize, renderImage, MNIST_PATCH_DEFAULTS } from './data/mnist-patch.js';
export { loadData, DATA_SOURCES, type DataSpec } from './data/source.js';
export {
  buildWideResNet,
  buildWrnPmoe,
  buildWrnModel,
  resolveWrnModel,
  trainableParams,
  WRN_ARCHITECTURES,
  WRN_PMOE_CELEBA,
  WRN_PMOE_CIFAR,
  type WrnModelSpec,
  type WrnModelConfig,
} from './models/wide-resnet.js';
export { modelFlops } from './analysis/flops.js';
export { loadCifar10 } from './data/cifar10.js';
export { loadCelebaIndex, loadCelebaImages } from './data/celeba.js';
export * from './data/image-variants.js';
export { buildMnistQuadrants } from './data/mnist-quadrants.js';
export { trainImageModel, evaluateImageModel, type ImageSplit, type ImageEpochRecord } from './training/train-image-model.js';
export { loadImageData, planImageData, IMAGE_SOURCES, type ImageDataSpec, type ResolvedImageDataSpec, type LoadedImageData } from './data/image-source.js';
export { separateRoutingCurve } from './analysis/routing-rate.js';
export { runSweep, type SweepOptions } from './experiments/sweep.js';
export { EXPERIMENTS } from './experiments/registry.js';
export { writeReport } from './report/report.js';
