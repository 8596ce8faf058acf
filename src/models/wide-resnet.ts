/**
 * The paper's 10-layer Wide-ResNet and WRN-pMoE (§5, Figures 10-18, Table 2), on tfjs-layers'
 * functional API. Both output logits [batch, classes] (no softmax: train with softmax cross-entropy).
 *
 * WRN (widening factor w; the paper's w = 10 gives 160/320/640 channels):
 *   conv3x3-16 -> block(16w, stride 1) -> block(32w, stride 2) -> block(64w, stride 2)
 *   -> BN-ReLU -> global average pool -> dense(classes)
 *   block(c, s) = BN-ReLU -> conv3x3-c stride s -> BN-ReLU -> conv3x3-c, plus the block's input
 *   (through a 1x1 stride-s projection when the shape changes).
 *
 * WRN-pMoE [C]: the first two blocks are the WRN's; the third block keeps its first half
 * (BN-ReLU -> conv3x3-64w stride 2) and replaces the rest (BN-ReLU -> conv3x3-64w, the shortcut)
 * by a patch-level MoE:
 *   ... -> BN-ReLU -> conv3x3-64w stride 2 -> BN-ReLU -> PatchMoE(k experts of 64w/k filters,
 *   each taking l patches) -> BN-ReLU -> global average pool -> dense(classes)
 * The PatchMoE output concatenates the k experts' channel slices: 64w channels, as the code's
 * `concatenate`.
 *
 * Differences from the official Keras code, with the options that restore it (docs/paper.md §7):
 * - `formulation` 'sparse' (the default): one shared BN-ReLU (`moe_pre`) before routers and
 *   experts; each expert gathers its l patches, convolves them only (zero padding at patch
 *   borders), scales the result by the gate and leaves zeros elsewhere. 'official': the routers
 *   read the raw conv output, the gate map multiplies each expert's *input*, and each expert runs
 *   its own BN-ReLU-conv densely over the whole map (routing/formulation.ts).
 * - `head` 'softmax' (default): binary tasks get two logits; 'sigmoid' is the official binary
 *   code's one logit with binary cross-entropy.
 * - `routerInit` 'independent' (default): each router its own N(0, routerInitStd^2) draw (the code's
 *   1e-4); 'identical': one draw for all, as the code's shared initialiser gives in some Keras versions.
 * - expert and conv kernels use Keras's default glorotUniform with zero biases; every initialiser
 *   is seeded from `seed`.
 * - like the official code, WRN-pMoE's last block has no shortcut (`shortcut: true` adds the 1x1
 *   stride-2 projection of the block input to the PatchMoE output instead).
 * - the official WRN projects the shortcut of every group's first block; ours only where the
 *   shape changes (the same thing at w = 10; at w = 1 the first block, 16 -> 16, uses identity).
 *   Projections read the block's raw input (not its BN-ReLU), as the official code does.
 *
 * BatchNormalization and short runs: inference uses BN's moving statistics, which start at (0, 1)
 * and forget that start with a time constant of 1 / (1 - momentum) steps (100 at Keras's 0.99). Early
 * in training they do not describe the activations, so test accuracy is at chance for the first few
 * hundred steps although the training accuracy climbs. Sparse WRN-pMoE's last BN may lag longer: routers at
 * N(0, 1e-4^2) make softmax-all gates about 1/n, so the PatchMoE output is ~n times smaller than its
 * input and the moving variance (from 1) has further to come down. Measured on 4-class MNIST
 * quadrants (w = 1, 1000 images, batch 32): at 0.99 both models stayed at 25 % test accuracy for 5-6
 * epochs (160-190 steps) while training accuracy reached 70 % (WRN-pMoE) and 92 % (WRN); at 0.9
 * WRN-pMoE's test accuracy followed its training accuracy (61 % after 4 epochs). The official runs
 * (50 epochs of N / 128 steps) are long enough for 0.99; `batchNormMomentum` sets it for short ones.
 *
 * Trainable parameters, measured with `trainableParams` (the paper says the two have as many;
 * the official code's variants are close for CelebA and far for CIFAR; ours follow the code):
 *   w = 10, CelebA (64x64x3, 2 classes): WRN 7,433,602; WRN-pMoE (4x4 patches, k 8, l 2, 3x3 experts
 *       of 80) 7,310,082, 123,520 fewer (1.7 %): it drops the 1x1 shortcut 320->640 (205,440) and adds
 *       the routers (8 x 4*4*640 = 81,920). The experts (8 x (3*3*640*80 + 80)) hold exactly the
 *       parameters of the conv3x3 640->640 they replace (3,687,040).
 *   w = 10, CIFAR (32x32x3, 10 classes): WRN 7,438,730; WRN-pMoE (1x1 patches, k 4, l 16, 1x1
 *       experts of 160) 3,959,050, 47 % fewer: the 1x1 experts hold 410,240 parameters where the
 *       3x3 conv held 3,687,040 (the official CIFAR code is built the same way).
 *   w = 1: CIFAR-style WRN 78,186 vs WRN-pMoE 43,562; CelebA-style WRN 77,666 vs WRN-pMoE 83,746
 *       (at w = 1 the CelebA routers, 8 x 4*4*64, outweigh the dropped shortcut).
 * (The test suite checks the w = 1 counts and the w = 10 differences above.)
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { createRng } from '../util/random.js';
import { lazyGradientConv2d } from './conv-layer.js';
import { trainingBatchNormalization } from './batch-norm-layer.js';
import { GATE_MODES } from '../routing/gate.js';
import { PATCH_MOE_INITIALIZERS, PatchMoE } from '../routing/patch-moe-layer.js';
import { routerSettingSchema } from '../routing/registry.js';
import { integer, oneOf, OptionError, parseOptions, real } from '../util/options.js';
import {
  describeWrnModel,
  FORMULATIONS,
  HEADS,
  IMAGES,
  recordLayers,
  ROUTER_INITS,
  type Head,
  type ConvLayerSpec,
  type ImageLayerSpec,
  type ImageModelLayers,
  type PatchMoeSpec,
} from './wrn-layers.js';

type Sym = tfl.SymbolicTensor;

const sizeSchema = z.union([integer(1), z.tuple([integer(1), integer(1)])]);

const wideResNetShape = {
  /** w: channels 16w, 32w, 64w in the three blocks. The paper: 10. */
  wideningFactor: integer(1).default(10),
  /** Classes (binary tasks: 2 logits and softmax cross-entropy unless `head` is 'sigmoid'). */
  classes: integer(2).default(10),
  /** Input height and width: a number for square images or [height, width]. CIFAR 32, CelebA 64. */
  inputSize: sizeSchema.default(32),
  /** Input channels. */
  channels: integer(1).default(3),
  /** Seeds every initialiser; the same seed gives the same weights on every backend. */
  seed: integer(0).default(0),
  /**
   * Momentum of every BatchNormalization's moving mean and variance (Keras's default 0.99, as the
   * official code). Inference uses the moving statistics, which forget their initial (0, 1) with a time
   * constant of 1 / (1 - momentum) steps: short runs evaluate better with e.g. 0.9.
   */
  batchNormMomentum: real(0, 1, { exclusiveMax: true }).default(0.99),
  /**
   * The output layer: 'softmax' (absent means it) gives one logit per class for softmax cross-entropy;
   * 'sigmoid' (binary tasks) one logit, class 1's, for binary cross-entropy, as the official CelebA
   * binary code (the same loss as two logits' softmax, a different parameterisation of the head).
   */
  head: oneOf(HEADS).optional(),
};

/** A sigmoid head needs a binary task. */
function checkHead(c: { head?: Head; classes: number }, ctx: z.RefinementCtx): void {
  if (c.head === 'sigmoid' && c.classes !== 2) {
    ctx.addIssue({ code: 'custom', path: ['head'], message: `'sigmoid' (one logit) needs a binary task; this one has ${c.classes} classes: use 'softmax'` });
  }
}

export const wideResNetSchema = z.object(wideResNetShape).strict().superRefine(checkHead);
export type WideResNetOptions = z.input<typeof wideResNetSchema>;
export type WideResNetConfig = z.output<typeof wideResNetSchema>;

/** Height and width after the two stride-2 'same' stages: ceil(ceil(x / 2) / 2). */
export function lastFeatureMapSize(inputSize: number | readonly [number, number]): [number, number] {
  const [h, w] = typeof inputSize === 'number' ? [inputSize, inputSize] : inputSize;
  const down = (v: number) => Math.ceil(Math.ceil(v / 2) / 2);
  return [down(h), down(w)];
}

export const wrnPmoeSchema = z
  .object({
    ...wideResNetShape,
    /** Patch height and width on the last feature map. CIFAR [C]: 1; CelebA [C]: 4. */
    patchSize: sizeSchema.default(1),
    /** k. CIFAR [C]: 4; CelebA [C]: 8. Must divide 64w (each expert has 64w/k filters). */
    experts: integer(1).default(4),
    /** l: patches each expert takes per image. CIFAR [C]: 16 of 64; CelebA [C]: 2 of 16. */
    patchesPerExpert: integer(1).default(16),
    /** Side of each expert's square kernel. CIFAR [C]: 1; CelebA [C]: 3. */
    kernelSize: integer(1).default(1),
    /** The official CIFAR/CelebA code: softmax over all n scores, selected values kept. */
    gate: oneOf(GATE_MODES).default('softmax-all'),
    /** Who routes: a router name or { name, ...options } (routing/registry.ts); unset: the paper's expert choice per image. */
    router: routerSettingSchema.optional(),
    /** Std of the routers' N(0, std^2) init; the official code: 1e-4. */
    routerInitStd: real(0).default(1e-4),
    /** The experts' kernel initialiser (Keras Conv2D's default is glorotUniform). */
    expertInitializer: oneOf(PATCH_MOE_INITIALIZERS).default('glorotUniform'),
    /** Add the 1x1 stride-2 projection of the last block's input to the PatchMoE output (the code has none). */
    shortcut: z.boolean().default(false),
    /** How the MoE is computed: pmoe's sparse one, or the official code's dense one (models/wrn-layers.ts). */
    formulation: oneOf(FORMULATIONS).default('sparse'),
    /**
     * The k routers' initial weights: 'independent' (absent means it) draws each router's own; 'identical'
     * gives every router the same draw, as the official code's one shared RandomNormal instance does
     * in Keras versions whose unseeded initialisers repeat their values.
     */
    routerInit: oneOf(ROUTER_INITS).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    checkHead(c, ctx);
    const width = 64 * c.wideningFactor;
    if (width % c.experts !== 0) {
      const divisors = Array.from({ length: width }, (_, i) => i + 1).filter((d) => width % d === 0);
      ctx.addIssue({
        code: 'custom',
        path: ['experts'],
        message: `must divide 64 * wideningFactor = ${width} (each expert gets 64w/k filters); allowed: ${divisors.join(', ')}`,
      });
      return;
    }
    const [mapH, mapW] = lastFeatureMapSize(c.inputSize);
    const [ph, pw] = typeof c.patchSize === 'number' ? [c.patchSize, c.patchSize] : c.patchSize;
    if (mapH % ph !== 0 || mapW % pw !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['patchSize'],
        message: `must tile the last feature map ${mapH}x${mapW} (input ${JSON.stringify(c.inputSize)} after two stride-2 stages): patch height must divide ${mapH} and width ${mapW}`,
      });
      return;
    }
    const n = (mapH / ph) * (mapW / pw);
    if (c.patchesPerExpert > n) {
      ctx.addIssue({
        code: 'custom',
        path: ['patchesPerExpert'],
        message: `must be an integer in 1..${n} (l <= n, the ${n} patches of the ${mapH}x${mapW} map)`,
      });
    }
  });
export type WrnPmoeOptions = z.input<typeof wrnPmoeSchema>;
export type WrnPmoeConfig = z.output<typeof wrnPmoeSchema>;

/** The official CelebA setting [C]: 64x64 input, 16x16 map, 16 patches of 4x4, k = 8, l = 2, 3x3 experts. */
export const WRN_PMOE_CELEBA = Object.freeze({
  inputSize: 64,
  patchSize: 4,
  experts: 8,
  patchesPerExpert: 2,
  kernelSize: 3,
} as const);

/** The official CIFAR setting [C]: 32x32 input, 8x8 map, 64 patches of 1x1, k = 4, l = 16, 1x1 experts. */
export const WRN_PMOE_CIFAR = Object.freeze({
  inputSize: 32,
  patchSize: 1,
  experts: 4,
  patchesPerExpert: 16,
  kernelSize: 1,
} as const);

/** A convolution whose input gradient runs only when needed (not for the stem on the images). */
function convLayer(layer: ConvLayerSpec, seed: number): tfl.layers.Layer {
  return lazyGradientConv2d({
    filters: layer.outputShape[2],
    kernelSize: layer.kernelSize,
    strides: layer.stride,
    padding: layer.padding,
    kernelInitializer: tfl.initializers.glorotUniform({ seed }),
    biasInitializer: 'zeros',
    name: layer.name,
  });
}

function patchMoeLayer(layer: PatchMoeSpec, config: WrnPmoeConfig, seed: number): PatchMoE {
  return new PatchMoE({
    patchSize: config.patchSize,
    experts: layer.experts,
    patchesPerExpert: layer.patchesPerExpert,
    filtersPerExpert: layer.filtersPerExpert,
    kernelSize: layer.kernelSize,
    gate: layer.gate,
    ...(layer.router ? { router: layer.router } : {}),
    formulation: layer.formulation,
    ...(layer.expertBatchNorm ? { batchNormMomentum: layer.expertBatchNorm.momentum, batchNormEpsilon: layer.expertBatchNorm.epsilon } : {}),
    kernelInitializer: config.expertInitializer,
    seed,
    name: layer.name,
  });
}

/**
 * Builds the tfjs model of a layer description: seeded initialisers drawn in the description's order
 * (then the routers' N(0, routerInitStd^2), generated in JS, so backend-independent).
 */
function buildFromLayers(description: ImageModelLayers, config: WrnModelConfig, name: string): tfl.LayersModel {
  const rng = createRng(`wide-resnet:${config.seed}`);
  const [h, w, c] = description.inputShape;
  const input = tfl.input({ shape: [h, w, c], name: IMAGES });
  const outputs = new Map<string, Sym>([[IMAGES, input]]);
  const read = (layer: ImageLayerSpec) => layer.inputs.map((inputName) => outputs.get(inputName)!);
  let moe: PatchMoE | undefined;
  let output: Sym = input;
  for (const layer of description.layers) {
    const [x] = read(layer);
    switch (layer.kind) {
      case 'conv':
        output = convLayer(layer, rng.seed()).apply(x) as Sym;
        break;
      case 'bn-relu': {
        const normalised = trainingBatchNormalization({ momentum: layer.momentum, epsilon: layer.epsilon, name: `${layer.name}_bn` }).apply(x) as Sym;
        output = tfl.layers.reLU({ name: `${layer.name}_relu` }).apply(normalised) as Sym;
        break;
      }
      case 'add':
        output = tfl.layers.add({ name: layer.name }).apply(read(layer)) as Sym;
        break;
      case 'patch-moe':
        moe = patchMoeLayer(layer, config as WrnPmoeConfig, rng.seed());
        output = moe.apply(x) as Sym;
        break;
      case 'global-average-pool':
        output = tfl.layers.globalAveragePooling2d({ name: layer.name }).apply(x) as Sym;
        break;
      case 'dense':
        output = tfl.layers
          .dense({
            units: layer.outputShape[0],
            kernelInitializer: tfl.initializers.glorotUniform({ seed: rng.seed() }),
            biasInitializer: 'zeros',
            name: layer.name,
          })
          .apply(x) as Sym;
        break;
    }
    outputs.set(layer.name, output);
  }
  const model = tfl.model({ inputs: input, outputs: output, name });
  if (moe) {
    const router = moe.weights[0];
    const [patchValues, experts] = router.shape as number[];
    const { routerInitStd, routerInit } = config as WrnPmoeConfig;
    const initial = tf.tidy(() =>
      routerInit === 'identical'
        ? tf.tile(tf.randomNormal([patchValues, 1], 0, routerInitStd, 'float32', rng.seed()), [1, experts])
        : tf.randomNormal([patchValues, experts], 0, routerInitStd, 'float32', rng.seed()),
    );
    router.write(initial);
    initial.dispose();
  }
  recordLayers(model, description);
  return model;
}

/** The paper's 10-layer Wide-ResNet: logits [batch, classes]. */
export function buildWideResNet(options: WideResNetOptions = {}): tfl.LayersModel {
  const config = { architecture: 'wrn' as const, ...parseOptions(wideResNetSchema, options, 'WideResNet') };
  return buildFromLayers(describeWrnModel(config), config, 'wide_resnet');
}

/** WRN-pMoE: the WRN whose last block ends in a patch-level MoE. Logits [batch, classes]. */
export function buildWrnPmoe(options: WrnPmoeOptions = {}): tfl.LayersModel {
  const config = { architecture: 'wrn-pmoe' as const, ...parseOptions(wrnPmoeSchema, options, 'WrnPmoe') };
  return buildFromLayers(describeWrnModel(config), config, 'wrn_pmoe');
}

/** Number of trainable scalars (BN's gamma and beta count; its moving statistics do not). */
export function trainableParams(model: tfl.LayersModel): number {
  return model.trainableWeights.reduce((sum, w) => sum + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}

/** The two models of §5, by the name image runs give them. */
export const WRN_ARCHITECTURES = ['wrn', 'wrn-pmoe'] as const;
export type WrnArchitecture = (typeof WRN_ARCHITECTURES)[number];

/** Settings an image run takes from its data (classes, image size, channels) and its seed, not from its model spec. */
const FIXED_BY_RUN = ['classes', 'inputSize', 'channels', 'seed'] as const;
type FixedByRun = (typeof FIXED_BY_RUN)[number];

/** An image run's model: the architecture and its options, less what the data and the seed fix. */
export type WrnModelSpec =
  ({ readonly architecture: 'wrn' } & Omit<WideResNetOptions, FixedByRun>) | ({ readonly architecture: 'wrn-pmoe' } & Omit<WrnPmoeOptions, FixedByRun>);

/** A model spec with every default filled in, as run records store it. */
export type WrnModelConfig = ({ readonly architecture: 'wrn' } & WideResNetConfig) | ({ readonly architecture: 'wrn-pmoe' } & WrnPmoeConfig);

/**
 * Validates an image run's model spec against what the run fixes (OptionError naming the option
 * otherwise) and fills every default; builds nothing.
 */
export function resolveWrnModel(spec: WrnModelSpec, fixed: Pick<WideResNetConfig, FixedByRun>): WrnModelConfig {
  const { architecture, ...options } = spec;
  const given = FIXED_BY_RUN.filter((key) => key in options);
  if (given.length > 0) {
    throw new OptionError(
      `model.${given[0]}: set by the run (the data fix classes, inputSize and channels; training.seed seeds the weights), not by the model spec (got ${JSON.stringify((options as Record<string, unknown>)[given[0]])})`,
    );
  }
  if (architecture === 'wrn') return { architecture, ...parseOptions(wideResNetSchema, { ...options, ...fixed }, 'model') };
  if (architecture === 'wrn-pmoe') return { architecture, ...parseOptions(wrnPmoeSchema, { ...options, ...fixed }, 'model') };
  throw new OptionError(`model.architecture: must be one of ${WRN_ARCHITECTURES.map((a) => `'${a}'`).join(', ')} (got ${JSON.stringify(architecture)})`);
}

/** Builds the model a resolved config names. */
export function buildWrnModel(config: WrnModelConfig): tfl.LayersModel {
  if (config.architecture === 'wrn') {
    const { architecture: _, ...options } = config;
    return buildWideResNet(options);
  }
  const { architecture: _, ...options } = config;
  return buildWrnPmoe(options);
}
