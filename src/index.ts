/**
 * pmoe: patch-level Mixture-of-Experts CNNs (Chowdhury et al., ICML 2023) on TensorFlow.js.
 * The core entry: layers, ops, the paper's two-layer models with saving and loading, training,
 * and the synthetic data model. Data loaders, experiments and reports have their own entries
 * (pmoe/data, pmoe/experiments, pmoe/report) so that importing this one stays light.
 */
export { initEngine, BACKEND_NAMES, type BackendName, type EngineOptions } from './engine/backend.js';
export { useFastKernels, restoreKernels, type FastKernels } from './ops/fast-kernels.js';
export { enableRelaxedSimd } from './kernels/relaxed-simd.js';
export { TFJS_VERSION, TfjsVersionError } from './ops/tfjs-versions.js';
export { createRng, type Rng } from './util/random.js';
export { detach } from './ops/detach.js';
export { setGemmThreads } from './kernels/gemm-threads.js';
export { expertChoice } from './routing/expert-choice-op.js';
export { expertOutputs } from './ops/expert-outputs.js';

export { GATE_MODES, POOLINGS, type GateMode, type Pooling } from './routing/gate.js';
export { patchify, unpatchify, patchGrid, type PatchSize, type PatchGrid } from './routing/patchify.js';
export { patchScores, route, gatherForExperts, gatesForExperts, routingToArrays, type Routing, type RoutingArrays } from './routing/route.js';
export { PatchMoE, patchMoE, PATCH_MOE_INITIALIZERS, type PatchMoeOptions, type PatchMoeLayerArgs } from './routing/patch-moe-layer.js';
export type { InitializerSetting, InitializerName, SerializedInitializer } from './routing/initializer-setting.js';
export { TrainingBatchNormalization, trainingBatchNormalization } from './models/batch-norm-layer.js';

export { TwoLayerCnn, twoLayerCnnSchema, type TwoLayerCnnOptions, type TwoLayerCnnConfig } from './models/two-layer-cnn.js';
export { TwoLayerPmoe, twoLayerPmoeSchema, type TwoLayerPmoeOptions, type TwoLayerPmoeConfig } from './models/two-layer-pmoe.js';
export { buildModel, paperDefaults, MODEL_KINDS, type ModelKind, type ModelOf, type ModelOptions } from './models/build.js';
export { OUTPUT_WEIGHTS, type OutputWeights } from './models/output-weights.js';
export { INIT_SCHEMES, REGIMES, type InitScheme, type Regime } from './models/init.js';
export type { PatchModel, RoutedPatchModel } from './models/patch-model.js';
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
export {
  describeWrnModel,
  FORMULATIONS,
  type Formulation,
  HEADS,
  type Head,
  ROUTER_INITS,
  type ImageModelLayers,
  type ImageLayerSpec,
  type ConvLayerSpec,
  type BatchNormReluSpec,
  type PatchMoeSpec,
  type MapShape,
} from './models/wrn-layers.js';
export { saveModel, loadModel, type SavableModel } from './io/save-model.js';
export { saveTwoLayerModel, loadTwoLayerModel } from './models/pmoe-model-io.js';
export { saveModelFiles, loadModelFiles, fileSaveHandler, fileLoadHandler, registerFileHandlers } from './io/model-files.js';
export type { PmoeModelExtras, TwoLayerModel, TwoLayerModelFile } from './models/pmoe-model-file.js';

export {
  trainModel,
  trainModelAsync,
  earlyStopping,
  trainingSchema,
  type TrainingOptions,
  type TrainingResult,
  type EpochMetrics,
  type TrainingHooks,
  type TrainingCallback,
  type TrainingControl,
  type EarlyStopping,
  type EarlyStoppingOptions,
} from './training/train.js';
export { trainImageModel, evaluateImageModel, imageStepPath, type ImageEpochRecord, type ImageStepPath } from './training/train-image-model.js';
export { type ImageSplit } from './data/image-split.js';
export { classificationLoss, predictions } from './training/loss.js';
export { routerLinearLoss } from './training/router-loss.js';
export { evaluate, type Evaluation } from './training/evaluate.js';
export { DivergenceError } from './training/sgd.js';
export { epochLogHooks, type EpochLogLine } from './training/epoch-log.js';

export { type PatchDataset, signedLabel, selectSamples } from './data/dataset.js';
export {
  createSyntheticModel,
  makeSyntheticSplit,
  validateSyntheticConfig,
  delta,
  SYNTHETIC_DEFAULTS,
  type SyntheticConfig,
  type SyntheticModel,
  type SyntheticSplit,
} from './data/synthetic.js';

export { discriminativeRoutingRate, collectRouting, separateRoutingCurve, type RoutingRate, type RoutingCriterion } from './analysis/routing-rate.js';
export { modelFlops } from './analysis/flops.js';
export { OptionError } from './util/options.js';
