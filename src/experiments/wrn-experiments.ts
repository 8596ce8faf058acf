/**
 * The paper's Wide-ResNet experiments (§5, Figures 10-16): test accuracy of the 10-layer WRN and of
 * WRN-pMoE against the number of training samples N, on CelebA and CIFAR-10 variants, and
 * `wrn-mnist`, the same comparison on MNIST quadrants (a CIFAR-Vehicles analogue that ships with
 * pmoe). Defaults follow the official code (docs/paper.md §5): widening factor 10, SGD lr 0.1 without
 * momentum, batch 128, 50 epochs, 5 runs, epoch-50 test accuracy.
 *
 *   pmoe reproduce fig14 --set cifarDir=/data/cifar-10-batches-bin     the whole protocol
 *   pmoe reproduce fig10 --quick --set celebaDir=/data/celeba            a reduced version (minutes)
 *   pmoe reproduce wrn-mnist                                             reduced scale, no data needed
 *
 * CIFAR and CelebA are read from folders the user names; nothing is downloaded. A missing or
 * incomplete folder fails the command before any run starts.
 */
import { z } from 'zod';
import { dataFolderProblem, IMAGE_DATA_FOLDERS, type ImageDataFolder, type ImageDataSpec, type ImageSourceName } from '../data/image-source.js';
import { WRN_ARCHITECTURES, WRN_PMOE_CELEBA, WRN_PMOE_CIFAR, type WrnArchitecture, type WrnModelSpec } from '../models/wide-resnet.js';
import { FORMULATIONS, HEADS, ROUTER_INITS, type Head } from '../models/wrn-layers.js';
import { PAPER_WRN } from './paper-numbers.js';
import type { ImageRunSpec } from '../training/run.js';
import { integer, oneOf, real } from '../util/options.js';
import { spuriousStrengthSchema } from '../data/spurious.js';
import { defineExperiment } from './definition.js';
import { MAX_EPOCHS, MAX_SEEDS } from './plan-size.js';

/** Settings every WRN experiment shares, with the official code's values. */
export const WRN_PROTOCOL = {
  seeds: integer(1, MAX_SEEDS).default(5),
  epochs: integer(1, MAX_EPOCHS).default(50),
  batchSize: integer(1).default(128),
  learningRate: real(0, Infinity, { exclusiveMin: true }).default(0.1),
  /** w: 16w, 32w, 64w channels in the three blocks; the paper's 10. */
  wideningFactor: integer(1).default(10),
  /** Keras's default, as the official code; short runs evaluate better at 0.9 (see wide-resnet.ts). */
  batchNormMomentum: real(0, 1, { exclusiveMax: true }).default(0.99),
  models: z
    .array(oneOf(WRN_ARCHITECTURES))
    .min(1)
    .default([...WRN_ARCHITECTURES]),
  /** Every N is round(size x sizeScale): 0.1 runs a tenth of the paper's training sets. */
  sizeScale: real(0, Infinity, { exclusiveMin: true }).default(1),
  /** Test images; default the source's (all 10,000 CIFAR test images, 4,000 vehicles, 2,000 CelebA, 1,000 MNIST quadrants). */
  testSize: integer(1).optional(),
  /** WRN-pMoE: override the figure's k and l. */
  experts: integer(1).optional(),
  patchesPerExpert: integer(1).optional(),
  /** WRN-pMoE: how the MoE is computed (routing/formulation.ts): pmoe's sparse one or the official code's. */
  formulation: oneOf(FORMULATIONS).default('sparse'),
  /** WRN-pMoE: 'identical' starts every router from one draw (the official code under some Keras versions); default independent draws. */
  routerInit: oneOf(ROUTER_INITS).optional(),
};
type Protocol = z.output<z.ZodObject<typeof WRN_PROTOCOL>> & { head?: Head };

/** The binary CelebA figures' extra option: the official code's one-logit head (both models). */
const binaryHeadOption = { head: oneOf(HEADS).optional() };

const sizeList = z.array(integer(1)).min(1);

/** WRN-pMoE's routing on CelebA's 16x16 map and on CIFAR's 8x8 map [C], less the input size the data fix. */
const { inputSize: _celebaInput, ...CELEBA_PMOE } = WRN_PMOE_CELEBA;
const { inputSize: _cifarInput, ...CIFAR_PMOE } = WRN_PMOE_CIFAR;
type PmoeSetting = typeof CELEBA_PMOE | typeof CIFAR_PMOE;

/** The option that names a data folder, how to set it, and what it must hold. */
const FOLDER_OPTIONS: Record<ImageDataFolder, { option: string; example: string }> = {
  cifar: { option: 'cifarDir', example: '/data/cifar-10-batches-bin' },
  celeba: { option: 'celebaDir', example: '/data/celeba' },
  backgrounds: { option: 'backgroundDir', example: '/data/backgrounds' },
};

/** A refinement that fails the options, before any run, when a needed folder is not given or lacks files. */
function requireFolders(kinds: readonly ImageDataFolder[]) {
  return (options: Record<string, unknown>, ctx: z.RefinementCtx) => {
    for (const kind of kinds) {
      const { option, example } = FOLDER_OPTIONS[kind];
      const dir = options[option];
      const problem = typeof dir === 'string' ? dataFolderProblem(kind, dir) : 'not given';
      if (problem) {
        ctx.addIssue({
          code: 'custom',
          path: [option],
          message: `${problem}; expected ${IMAGE_DATA_FOLDERS[kind]}. pmoe downloads nothing: set it with --set ${option}=${example}`,
        });
      }
    }
  };
}

const cifarOptions = {
  cifarDir: z.string().optional(),
  /** 10000 for the real files; 'any' accepts smaller copies (test fixtures). */
  cifarRecordsPerFile: z.union([integer(1), z.literal('any')]).default(10_000),
};
const celebaOptions = { celebaDir: z.string().optional() };

interface FigureData {
  readonly source: ImageSourceName;
  /** Data settings beside N and the seeds (folders). */
  readonly data: (o: Record<string, unknown>) => Record<string, unknown>;
  readonly pmoe: PmoeSetting;
}

/** One run: `architecture` on N = trainSize images drawn with `seed`, initialised and shuffled with `seed`. */
function wrnRun(p: Protocol, figure: FigureData, architecture: WrnArchitecture, trainSize: number, seed: number): ImageRunSpec {
  const base = { wideningFactor: p.wideningFactor, batchNormMomentum: p.batchNormMomentum, ...(p.head === undefined ? {} : { head: p.head }) };
  const model: WrnModelSpec =
    architecture === 'wrn'
      ? { architecture, ...base }
      : {
          architecture,
          ...base,
          ...figure.pmoe,
          ...(p.experts === undefined ? {} : { experts: p.experts }),
          ...(p.patchesPerExpert === undefined ? {} : { patchesPerExpert: p.patchesPerExpert }),
          // Left out at the default, so sparse runs keep the keys (and resume from the records) they had before the option.
          ...(p.formulation === 'sparse' ? {} : { formulation: p.formulation }),
          ...(p.routerInit === undefined ? {} : { routerInit: p.routerInit }),
        };
  return {
    kind: 'image',
    // The source's own fields come from the options; planImageRun checks the whole spec before a sweep starts.
    data: { source: figure.source, ...figure.data(p), trainSize, seed, ...(p.testSize === undefined ? {} : { testSize: p.testSize }) } as ImageDataSpec,
    model,
    training: { epochs: p.epochs, batchSize: p.batchSize, learningRate: p.learningRate, seed },
  };
}

/** The distinct N of a figure: its sizes scaled by sizeScale. */
const scaledSizes = (o: Protocol & { sizes: number[] }) => [...new Set(o.sizes.map((size) => Math.max(1, Math.round(size * o.sizeScale))))];
const wrnRunCount = (o: Protocol & { sizes: number[] }) => scaledSizes(o).length * o.models.length * o.seeds;

/** The check of a run labelled `name`: an image run on `source` data. */
function wrnRunProblem(name: string, source: ImageSourceName) {
  return (spec: unknown): string | undefined => {
    const run = spec as { kind?: unknown; data?: { source?: unknown } };
    return run.kind === 'image' && run.data?.source === source ? undefined : `${name} runs are image runs on ${source} data; this one is not`;
  };
}

/** sizes x models x seeds, N scaled by sizeScale. */
function wrnSpecs(o: Protocol & { sizes: number[] }, figure: FigureData): ImageRunSpec[] {
  const sizes = scaledSizes(o);
  const seeds = Array.from({ length: o.seeds }, (_, i) => i);
  return sizes.flatMap((N) => o.models.flatMap((model) => seeds.map((seed) => wrnRun(o, figure, model, N, seed))));
}

const cifarData = (o: Record<string, unknown>) => ({
  dir: o.cifarDir,
  ...(o.cifarRecordsPerFile === 10_000 ? {} : { recordsPerFile: o.cifarRecordsPerFile }),
});
const celebaData = (o: Record<string, unknown>) => ({ dir: o.celebaDir });

/** A reduced version for CIFAR and CelebA figures: w = 1, one seed, 2 epochs, the paper's smallest and largest N scaled by 1/20. */
function quickOf(sizes: readonly number[]) {
  return { wideningFactor: 1, seeds: 1, epochs: 2, sizes: [sizes[0], sizes[sizes.length - 1]], sizeScale: 0.05, testSize: 400, batchNormMomentum: 0.9 };
}

function celebaFigure(
  name: 'fig10' | 'fig11' | 'fig12',
  source: ImageSourceName,
  what: string,
  extra: Record<string, z.ZodType> = {},
  extraData = (_o: Record<string, unknown>) => ({}),
) {
  const sizes = PAPER_WRN[name].sizes;
  const figure: FigureData = { source, data: (o) => ({ ...celebaData(o), ...extraData(o) }), pmoe: CELEBA_PMOE };
  return defineExperiment({
    name,
    description: `Figure ${name.slice(3)}: WRN vs WRN-pMoE test accuracy against N on ${what} (pmoe reproduce ${name} --set celebaDir=/path/to/celeba)`,
    schema: z
      .object({ ...WRN_PROTOCOL, ...celebaOptions, ...extra, sizes: sizeList.default([...sizes]) })
      .strict()
      .superRefine(requireFolders(['celeba'])),
    quick: quickOf(sizes),
    specs: (o) => wrnSpecs(o, figure),
    runCount: wrnRunCount,
    runProblem: wrnRunProblem(name, source),
  });
}

function cifarFigure(
  name: 'fig14' | 'fig15' | 'fig16',
  source: ImageSourceName,
  what: string,
  extra: Record<string, z.ZodType> = {},
  extraData = (_o: Record<string, unknown>) => ({}),
  folders: ImageDataFolder[] = ['cifar'],
) {
  const sizes = PAPER_WRN[name].sizes;
  const figure: FigureData = { source, data: (o) => ({ ...cifarData(o), ...extraData(o) }), pmoe: CIFAR_PMOE };
  const settings = folders.map((kind) => `--set ${FOLDER_OPTIONS[kind].option}=/path`).join(' ');
  return defineExperiment({
    name,
    description: `Figure ${name.slice(3)}: WRN vs WRN-pMoE test accuracy against N on ${what} (pmoe reproduce ${name} ${settings})`,
    schema: z
      .object({ ...WRN_PROTOCOL, ...cifarOptions, ...extra, sizes: sizeList.default([...sizes]) })
      .strict()
      .superRefine(requireFolders(folders)),
    quick: quickOf(sizes),
    specs: (o) => wrnSpecs(o, figure),
    runCount: wrnRunCount,
    runProblem: wrnRunProblem(name, source),
  });
}

export const fig10 = celebaFigure('fig10', 'celeba-smiling', 'CelebA smiling (binary, 64x64)', binaryHeadOption);

/** Trained on 95 % smiling/black-hair and not-smiling/blond-hair images; tested on a balanced set, with per-group accuracy. */
export const fig11 = celebaFigure(
  'fig11',
  'celeba-spurious',
  'CelebA smiling with hair colour as a spurious feature (balanced test set)',
  { spuriousFraction: real(0, 1).default(0.95), ...binaryHeadOption },
  (o) => (o.spuriousFraction === 0.95 ? {} : { fraction: o.spuriousFraction }),
);

export const fig12 = celebaFigure('fig12', 'celeba-smiling-eyeglasses', 'CelebA 4 classes: smiling x eyeglasses');

export const fig14 = cifarFigure('fig14', 'cifar10', 'CIFAR-10');

export const fig15 = cifarFigure(
  'fig15',
  'cifar-background',
  'CIFAR-10 images (16x16) on natural backgrounds (32x32)',
  { backgroundDir: z.string().optional(), backgroundCount: integer(1).default(1000) },
  (o) => ({ backgroundDir: o.backgroundDir, ...(o.backgroundCount === 1000 ? {} : { backgroundCount: o.backgroundCount }) }),
  ['cifar', 'backgrounds'],
);

export const fig16 = cifarFigure('fig16', 'cifar-vehicles', 'CIFAR-Vehicles (a vehicle in one quadrant, animals in the others; 4 classes)');

/** The spurious options of a quadrant experiment, only those set (so runs without them keep their keys). */
const quadrantSpurious = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries({ spuriousStrength: o.spuriousStrength, spuriousItems: o.spuriousItems }).filter(([, v]) => v !== undefined));

/**
 * WRN vs WRN-pMoE on MNIST quadrants, the CIFAR-Vehicles analogue of ../data/mnist-quadrants.ts:
 * 32x32 images, the class digit (0-3) in one quadrant, digits 4-9 in the others. The paper has no
 * such figure. WRN-pMoE takes the CIFAR setting unchanged, as the 8x8 map is CIFAR's: 64 patches of
 * 1x1, k = 4 experts, l = 16 (one quadrant's worth of the map), 1x1 experts.
 *
 * The defaults are a reduced scale sized for 2 cores and 2 workers (about 2.5 minutes on a quiet
 * machine: ~2.1 ms per training image and epoch, ~0.6 ms per test image, one thread per worker):
 * widening factor 1, N = 250..2000, 2 seeds, 6 epochs of batch 32 (4x the steps of batch
 * 128 at these N), BN momentum 0.9 (short runs; see wide-resnet.ts), 1000 test images.
 */
export const wrnMnist = defineExperiment({
  name: 'wrn-mnist',
  description:
    'WRN vs WRN-pMoE test accuracy against N on MNIST quadrants (the CIFAR-Vehicles analogue; no data needed) at a reduced scale (pmoe reproduce wrn-mnist)',
  schema: z
    .object({
      ...WRN_PROTOCOL,
      seeds: integer(1, MAX_SEEDS).default(2),
      epochs: integer(1, MAX_EPOCHS).default(6),
      batchSize: integer(1).default(32),
      wideningFactor: integer(1).default(1),
      batchNormMomentum: real(0, 1, { exclusiveMax: true }).default(0.9),
      sizes: sizeList.default([250, 500, 1000, 2000]),
      /** A spurious feature (../data/spurious.ts): s, and the filler digit (item) of each class (default 4, 5, 6, 7). */
      spuriousStrength: spuriousStrengthSchema.optional(),
      spuriousItems: z.array(integer(0, 9)).optional(),
    })
    .strict(),
  quick: { sizes: [250, 1000], seeds: 1, epochs: 3, testSize: 400 },
  specs: (o) => wrnSpecs(o, { source: 'mnist-quadrants', data: quadrantSpurious, pmoe: CIFAR_PMOE }),
  runCount: wrnRunCount,
  runProblem: wrnRunProblem('wrn-mnist', 'mnist-quadrants'),
});

/**
 * The same comparison on Fashion-MNIST quadrants: T-shirt/top, Trouser, Pullover or Dress in one
 * quadrant, Coat, Sandal, Shirt, Sneaker, Bag or Ankle boot in the others (Debian's
 * dataset-fashion-mnist). wrn-mnist's reduced scale.
 */
export const wrnFashion = defineExperiment({
  ...wrnMnist,
  name: 'wrn-fashion',
  description:
    'WRN vs WRN-pMoE test accuracy against N on Fashion-MNIST quadrants (apt-get install dataset-fashion-mnist) at a reduced scale (pmoe reproduce wrn-fashion)',
  specs: (o) => wrnSpecs(o, { source: 'fashion-quadrants', data: quadrantSpurious, pmoe: CIFAR_PMOE }),
  runProblem: wrnRunProblem('wrn-fashion', 'fashion-quadrants'),
});

/** The Wide-ResNet experiments by name. */
export const WRN_EXPERIMENTS = Object.freeze({ fig10, fig11, fig12, fig14, fig15, fig16, 'wrn-mnist': wrnMnist, 'wrn-fashion': wrnFashion });
