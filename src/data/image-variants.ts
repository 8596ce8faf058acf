/**
 * The image datasets of §5 built from CIFAR-10 and CelebA, as pure seeded functions (the image
 * operations they share are in image-ops.ts).
 *
 * Images are NHWC unsigned bytes; labels Int32Array. The same inputs and seed give the same output.
 * Tags as in docs/paper.md: [P] the paper, [C] the official code, [I] inferred (the generation scripts
 * are not public).
 *
 * CelebA variants select rows of the attribute table (a CelebaIndex) rather than images, so that only
 * the chosen JPEGs need decoding: `loadCelebaImages(dir, rows.map((r) => index.files[r]))` then gives
 * the images in selection order (`takeImages` does the same for images already in memory).
 */
import { createRng, type Rng } from '../util/random.js';
import { paste, resizeArea, centerSquare, takeImages, toBytes } from './image-ops.js';
import { CELEBA_PARTITIONS, type CelebaIndex, type CelebaPartition } from './celeba.js';

/** Draws `count` distinct items of `pool` (seeded partial Fisher-Yates); the pool is not modified. */
function sampleWithout(pool: readonly number[], count: number, rng: Rng): number[] {
  const copy = pool.slice();
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rng.next() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy.slice(0, count);
}

function integerAtLeast(what: string, value: number, min: number): void {
  if (!(Number.isInteger(value) && value >= min)) throw new RangeError(`${what} must be an integer >= ${min}; got ${value}`);
}

/** Splits `count` into `parts` near-equal integers, the first ones one larger when it does not divide. */
function evenSplit(count: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(count / parts) + (i < count % parts ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------
// CelebA variants
// ---------------------------------------------------------------------------------------------

/** Rows of a CelebA index chosen for a dataset, with labels (and groups where the variant has them). */
export interface CelebaSelection {
  /** Row of the index per example (index.files[row] is its JPEG), in training order (shuffled). */
  readonly rows: Int32Array;
  readonly labels: Int32Array;
  readonly classNames: readonly string[];
  /** Group per example where the variant defines groups (spurious: smiling x hair colour). */
  readonly groups?: Int32Array;
  readonly groupNames?: readonly string[];
}

export interface CelebaVariantOptions {
  /** Partition of the official split: 'train' (0), 'val' (1), 'test' (2). */
  readonly split: CelebaPartition;
  /** Examples to draw. */
  readonly count: number;
  readonly seed: number;
}

function columnOf(index: CelebaIndex, name: string): number {
  const column = index.attributeNames.indexOf(name);
  if (column < 0) throw new RangeError(`CelebA attribute '${name}' is not in the index (it has ${index.attributeNames.join(', ')})`);
  return column;
}

/** Index rows of `split` for which `groupOf` gives each group id (undefined: left out). */
function rowsByGroup(index: CelebaIndex, split: CelebaPartition, groups: number, groupOf: (row: number) => number | undefined): number[][] {
  const code = CELEBA_PARTITIONS.indexOf(split);
  if (code < 0) throw new RangeError(`CelebA split must be one of ${CELEBA_PARTITIONS.map((p) => `'${p}'`).join(', ')}; got ${JSON.stringify(split)}`);
  const lists = Array.from({ length: groups }, () => [] as number[]);
  for (let row = 0; row < index.count; row++) {
    if (index.partition[row] !== code) continue;
    const g = groupOf(row);
    if (g !== undefined) lists[g].push(row);
  }
  return lists;
}

/** Draws `counts[g]` rows of each group, labels them, and shuffles the whole selection. */
function drawGroups(
  pools: number[][],
  counts: number[],
  labelOf: (group: number) => number,
  rng: Rng,
  names: readonly string[],
  split: string,
): { rows: Int32Array; labels: Int32Array; groups: Int32Array } {
  const picked: { row: number; group: number }[] = [];
  pools.forEach((pool, g) => {
    if (counts[g] > pool.length) {
      throw new RangeError(`CelebA ${split} split has ${pool.length} images of group '${names[g]}' but ${counts[g]} are needed; ask for fewer examples`);
    }
    for (const row of sampleWithout(pool, counts[g], rng)) picked.push({ row, group: g });
  });
  rng.shuffle(picked);
  return {
    rows: Int32Array.from(picked, (p) => p.row),
    labels: Int32Array.from(picked, (p) => labelOf(p.group)),
    groups: Int32Array.from(picked, (p) => p.group),
  };
}

/**
 * CelebA "smiling" [P]: binary, label 1 = Smiling, 0 = not. Class-balanced: count/2 per class [I]
 * (the official pool's composition is not public).
 */
export function celebaSmiling(index: CelebaIndex, options: CelebaVariantOptions): CelebaSelection {
  integerAtLeast('celebaSmiling count', options.count, 2);
  const smiling = columnOf(index, 'Smiling');
  const pools = rowsByGroup(index, options.split, 2, (row) => (index.attributes[row * index.attributeNames.length + smiling] === 1 ? 1 : 0));
  const names = ['not smiling', 'smiling'];
  const { rows, labels } = drawGroups(
    pools,
    evenSplit(options.count, 2).reverse(),
    (g) => g,
    createRng(`celeba-smiling:${options.seed}`),
    names,
    options.split,
  );
  return { rows, labels, classNames: names };
}

/** Groups of the spurious variant: smiling x hair colour. */
export const SPURIOUS_GROUPS = ['smiling, black hair', 'smiling, blond hair', 'not smiling, black hair', 'not smiling, blond hair'] as const;

export interface CelebaSpuriousOptions extends CelebaVariantOptions {
  /**
   * 'spurious' [P]: `fraction` of the smiling images have black hair and `fraction` of the others
   * blond hair (blocks 0.475/0.025/0.025/0.475 of count at 0.95 [C]); 'balanced': count/4 of each
   * group, so that a model relying on hair colour shows it. Default: 'spurious' for the training
   * split, 'balanced' for val and test ([I]: the paper does not say how its test set is made).
   */
  readonly composition?: 'spurious' | 'balanced';
  /** Default 0.95 [P]. */
  readonly fraction?: number;
}

/**
 * CelebA spurious smiling: binary on Smiling (label 1 = smiling), with hair colour correlated with the
 * label in training. Only images with exactly one of Black_Hair, Blond_Hair take part.
 * groups: 0 smiling+black, 1 smiling+blond, 2 not smiling+black, 3 not smiling+blond.
 */
export function celebaSpurious(index: CelebaIndex, options: CelebaSpuriousOptions): CelebaSelection {
  const { count, split } = options;
  integerAtLeast('celebaSpurious count', count, 4);
  const fraction = options.fraction ?? 0.95;
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`celebaSpurious fraction must be a number in 0..1; got ${fraction}`);
  const composition = options.composition ?? (split === 'train' ? 'spurious' : 'balanced');
  if (composition !== 'spurious' && composition !== 'balanced') {
    throw new RangeError(`celebaSpurious composition must be 'spurious' or 'balanced'; got ${JSON.stringify(composition)}`);
  }
  const width = index.attributeNames.length;
  const [smiling, black, blond] = ['Smiling', 'Black_Hair', 'Blond_Hair'].map((name) => columnOf(index, name));
  const pools = rowsByGroup(index, split, 4, (row) => {
    const at = row * width;
    const isBlack = index.attributes[at + black] === 1;
    const isBlond = index.attributes[at + blond] === 1;
    if (isBlack === isBlond) return undefined;
    return (index.attributes[at + smiling] === 1 ? 0 : 2) + (isBlack ? 0 : 1);
  });
  let counts: number[];
  if (composition === 'balanced') {
    counts = evenSplit(count, 4);
  } else {
    // Per class: half the examples; of those, round((1 - fraction) * half) in the minority group.
    const [smilingHalf, otherHalf] = evenSplit(count, 2);
    const minority = (half: number) => Math.round((1 - fraction) * half);
    counts = [smilingHalf - minority(smilingHalf), minority(smilingHalf), minority(otherHalf), otherHalf - minority(otherHalf)];
  }
  const drawn = drawGroups(pools, counts, (g) => (g < 2 ? 1 : 0), createRng(`celeba-spurious:${options.seed}:${composition}`), SPURIOUS_GROUPS, split);
  return { ...drawn, classNames: ['not smiling', 'smiling'], groupNames: SPURIOUS_GROUPS };
}

/** Classes of the 4-class variant: label = 2 * smiling + eyeglasses. */
export const SMILING_EYEGLASSES_CLASSES = ['not smiling, no eyeglasses', 'not smiling, eyeglasses', 'smiling, no eyeglasses', 'smiling, eyeglasses'] as const;

/** CelebA 4-class [P]: {smiling, not} x {eyeglasses, not}, label = 2 * smiling + eyeglasses; count/4 per class [I]. */
export function celebaSmilingEyeglasses(index: CelebaIndex, options: CelebaVariantOptions): CelebaSelection {
  integerAtLeast('celebaSmilingEyeglasses count', options.count, 4);
  const width = index.attributeNames.length;
  const [smiling, glasses] = ['Smiling', 'Eyeglasses'].map((name) => columnOf(index, name));
  const pools = rowsByGroup(
    index,
    options.split,
    4,
    (row) => 2 * (index.attributes[row * width + smiling] === 1 ? 1 : 0) + (index.attributes[row * width + glasses] === 1 ? 1 : 0),
  );
  const { rows, labels } = drawGroups(
    pools,
    evenSplit(options.count, 4),
    (g) => g,
    createRng(`celeba-4class:${options.seed}`),
    SMILING_EYEGLASSES_CLASSES,
    options.split,
  );
  return { rows, labels, classNames: SMILING_EYEGLASSES_CLASSES };
}

// ---------------------------------------------------------------------------------------------
// CIFAR-10 variants
// ---------------------------------------------------------------------------------------------

/** Labelled NHWC byte images (a Cifar10Split fits). */
export interface LabelledImages {
  readonly images: Uint8Array;
  readonly labels: ArrayLike<number>;
  readonly shape: readonly [number, number, number, number];
}

/** A built dataset: NHWC bytes, labels and where the object was put. */
export interface PlacedImages {
  readonly images: Uint8Array;
  readonly shape: [number, number, number, number];
  readonly labels: Int32Array;
  readonly classNames: readonly string[];
}

/** A decoded image (jpeg-js's output fits): RGB or RGBA bytes, row-major. */
export interface DecodedImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

function checkCifarLike(source: LabelledImages, what: string): void {
  const [count, h, w, c] = source.shape;
  if (h !== 32 || w !== 32 || c !== 3) throw new RangeError(`${what}: expected 32x32x3 images, got ${h}x${w}x${c}`);
  if (source.images.length !== count * h * w * c) throw new RangeError(`${what}: ${source.images.length} pixel bytes for shape [${source.shape.join(', ')}]`);
  if (source.labels.length !== count) throw new RangeError(`${what}: ${source.labels.length} labels for ${count} images`);
}

/** The 16x16 area down-sampling of image `i` of a 32x32x3 set (exact 2x2 means, rounded). */
function half(source: LabelledImages, i: number): Uint8Array {
  const size = 32 * 32 * 3;
  return toBytes(resizeArea(source.images.subarray(i * size, (i + 1) * size), 32, 32, 3, 16, 16));
}

export const CIFAR10_CLASS_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

export interface CifarSubsetOptions {
  /** Images to draw; count/10 per class (the remainder to the first classes). */
  readonly count: number;
  readonly seed: number;
}

/**
 * A class-balanced CIFAR-10 subset of `count` images, drawn without replacement and shuffled [C: the
 * official code takes N/10 images of each class]; labels stay CIFAR's 0..9.
 */
export function cifarSubset(source: LabelledImages, options: CifarSubsetOptions): PlacedImages {
  checkCifarLike(source, 'cifarSubset');
  integerAtLeast('cifarSubset count', options.count, 1);
  const rng = createRng(`cifar-subset:${options.seed}`);
  const byClass = Array.from({ length: 10 }, () => [] as number[]);
  for (let i = 0; i < source.shape[0]; i++) byClass[source.labels[i]]?.push(i);
  const perClass = evenSplit(options.count, 10);
  const rows = byClass.flatMap((pool, c) => {
    if (perClass[c] > pool.length)
      throw new RangeError(`cifarSubset: ${perClass[c]} images of class ${CIFAR10_CLASS_NAMES[c]} needed, the source holds ${pool.length}`);
    return sampleWithout(pool, perClass[c], rng);
  });
  rng.shuffle(rows);
  return {
    images: takeImages(source.images, source.shape, rows),
    shape: [rows.length, 32, 32, 3],
    labels: Int32Array.from(rows, (r) => source.labels[r]),
    classNames: CIFAR10_CLASS_NAMES,
  };
}

export interface BackgroundNoiseOptions {
  readonly seed: number;
  /** Background side before pasting; 32 [P]. */
  readonly size?: number;
}

export interface BackgroundNoiseImages extends PlacedImages {
  /** [count, 2]: top and left of the 16x16 CIFAR image, each in 0..size - 16. */
  readonly positions: Int32Array;
  /** Background used per image (index into `backgrounds`). */
  readonly backgrounds: Int32Array;
}

/**
 * CIFAR-10 with background noise [P]: each CIFAR image, down-sampled to 16x16 by 2x2 means, is pasted
 * at a uniformly random position of a 32x32 background. Backgrounds are natural images the caller
 * supplies already decoded (e.g. a folder of JPEGs read with `readJpeg`); each image draws one at
 * random, takes its centred square and area-resizes it to 32x32 [I]. Labels stay CIFAR's 0..9.
 */
export function cifarBackgroundNoise(source: LabelledImages, backgrounds: readonly DecodedImage[], options: BackgroundNoiseOptions): BackgroundNoiseImages {
  checkCifarLike(source, 'cifarBackgroundNoise');
  const size = options.size ?? 32;
  integerAtLeast('cifarBackgroundNoise size', size, 16);
  if (backgrounds.length === 0) throw new RangeError('cifarBackgroundNoise: no background images given');
  const resized = backgrounds.map((bg, b) => {
    const pixels = bg.width * bg.height;
    const channels = bg.data.length === pixels * 3 ? 3 : bg.data.length === pixels * 4 ? 4 : 0;
    if (channels === 0)
      throw new RangeError(`cifarBackgroundNoise: background ${b} has ${bg.data.length} bytes for ${bg.width}x${bg.height} (expected RGB or RGBA)`);
    const full = resizeArea(bg.data, bg.height, bg.width, channels, size, size, centerSquare(bg.height, bg.width));
    if (channels === 3) return toBytes(full);
    const rgb = new Float32Array(size * size * 3);
    for (let p = 0; p < size * size; p++) for (let c = 0; c < 3; c++) rgb[p * 3 + c] = full[p * 4 + c];
    return toBytes(rgb);
  });
  const count = source.shape[0];
  const rng = createRng(`cifar-background:${options.seed}`);
  const imageSize = size * size * 3;
  const images = new Uint8Array(count * imageSize);
  const positions = new Int32Array(count * 2);
  const used = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const b = rng.int(backgrounds.length);
    const top = rng.int(size - 16 + 1);
    const left = rng.int(size - 16 + 1);
    const image = images.subarray(i * imageSize, (i + 1) * imageSize);
    image.set(resized[b]);
    paste(image, size, 3, half(source, i), 16, 16, top, left);
    positions[2 * i] = top;
    positions[2 * i + 1] = left;
    used[i] = b;
  }
  return { images, shape: [count, size, size, 3], labels: Int32Array.from(source.labels), classNames: CIFAR10_CLASS_NAMES, positions, backgrounds: used };
}

/** CIFAR-10 classes that are vehicles (airplane, automobile, ship, truck) and animals. */
export const CIFAR_VEHICLE_CLASSES = [0, 1, 8, 9] as const;
export const CIFAR_ANIMAL_CLASSES = [2, 3, 4, 5, 6, 7] as const;

export interface QuadrantImages extends PlacedImages {
  /** Quadrant of the class object: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right. */
  readonly quadrants: Int32Array;
  /** [count, 4]: index in the source of the image in each quadrant. */
  readonly sources: Int32Array;
}

export interface CifarVehiclesOptions {
  /** Examples to build; count/4 per vehicle class [C] (the remainder to the first classes). */
  readonly count: number;
  readonly seed: number;
}

/**
 * CIFAR-Vehicles [P]: 4 classes (0 airplane, 1 automobile, 2 ship, 3 truck). A 32x32 image of four
 * 16x16 quadrants (each a CIFAR image down-sampled by 2x2 means): the vehicle in one uniformly random
 * quadrant, the other three filled with random CIFAR animals. Vehicles are drawn without replacement
 * (count/4 per class), animals with replacement [I].
 */
export function cifarVehicles(source: LabelledImages, options: CifarVehiclesOptions): QuadrantImages {
  checkCifarLike(source, 'cifarVehicles');
  integerAtLeast('cifarVehicles count', options.count, 1);
  const rng = createRng(`cifar-vehicles:${options.seed}`);
  const byClass = Array.from({ length: 10 }, () => [] as number[]);
  for (let i = 0; i < source.shape[0]; i++) byClass[source.labels[i]]?.push(i);
  const animals = CIFAR_ANIMAL_CLASSES.flatMap((c) => byClass[c]);
  if (animals.length === 0) throw new RangeError('cifarVehicles: the source holds no animal images (classes 2..7)');
  const perClass = evenSplit(options.count, 4);
  const picked: { source: number; label: number }[] = [];
  CIFAR_VEHICLE_CLASSES.forEach((cifarClass, label) => {
    const pool = byClass[cifarClass];
    if (perClass[label] > pool.length) {
      throw new RangeError(`cifarVehicles: ${perClass[label]} images of class ${CIFAR10_CLASS_NAMES[cifarClass]} needed, the source holds ${pool.length}`);
    }
    for (const s of sampleWithout(pool, perClass[label], rng)) picked.push({ source: s, label });
  });
  rng.shuffle(picked);
  const count = picked.length;
  const images = new Uint8Array(count * 32 * 32 * 3);
  const labels = new Int32Array(count);
  const quadrants = new Int32Array(count);
  const sources = new Int32Array(count * 4);
  const halves = new Map<number, Uint8Array>();
  const halfOf = (i: number) => {
    let h = halves.get(i);
    if (!h) halves.set(i, (h = half(source, i)));
    return h;
  };
  picked.forEach(({ source: vehicle, label }, i) => {
    const quadrant = rng.int(4);
    const image = images.subarray(i * 3072, (i + 1) * 3072);
    for (let q = 0; q < 4; q++) {
      const from = q === quadrant ? vehicle : animals[rng.int(animals.length)];
      sources[4 * i + q] = from;
      paste(image, 32, 3, halfOf(from), 16, 16, 16 * Math.floor(q / 2), 16 * (q % 2));
    }
    labels[i] = label;
    quadrants[i] = quadrant;
  });
  return { images, shape: [count, 32, 32, 3], labels, classNames: ['airplane', 'automobile', 'ship', 'truck'], quadrants, sources };
}
