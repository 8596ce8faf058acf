/**
 * The test images the interactive page ships (web/data/samples.json): a bank of MNIST digit images
 * and a few MNIST-patch test images composed from it, with labels and discriminative cells.
 * Types and decoding only, no Node API: the page's bundle imports this module.
 */

export const WEB_SAMPLES_FORMAT = 'pmoe-web-samples';

export interface WebDigit {
  /** 0..9. */
  readonly digit: number;
  /** Index of the image in MNIST's test split. */
  readonly mnistIndex: number;
  /** 28 x 28 grayscale bytes, row-major, as base64. */
  readonly pixels: string;
}

export interface WebImage {
  /** Index of the image in the MNIST-patch test pool it comes from. */
  readonly testIndex: number;
  readonly label: number;
  readonly discriminativePatch: number;
  /** Per cell (row-major), an index into `digits`. */
  readonly cells: readonly number[];
}

export interface WebSamples {
  readonly format: typeof WEB_SAMPLES_FORMAT;
  readonly version: 1;
  /** Where the images come from, in words. */
  readonly source: string;
  readonly gridSize: number;
  readonly cellPixels: number;
  /** The discriminative digit of each class, class order. */
  readonly discriminativeDigits: readonly number[];
  readonly fillDigits: readonly number[];
  readonly digits: readonly WebDigit[];
  readonly images: readonly WebImage[];
}

export function base64ToBytes(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** The grid image of `cells` (indices into the digit bank) as grayscale bytes [side, side]. */
export function composeImage(cells: readonly number[], digits: readonly Uint8Array[], gridSize: number, cellPixels: number): Uint8Array {
  const side = gridSize * cellPixels;
  const image = new Uint8Array(side * side);
  cells.forEach((bank, j) => {
    const pixels = digits[bank];
    const top = Math.floor(j / gridSize) * cellPixels;
    const left = (j % gridSize) * cellPixels;
    for (let r = 0; r < cellPixels; r++) image.set(pixels.subarray(r * cellPixels, (r + 1) * cellPixels), (top + r) * side + left);
  });
  return image;
}

/** The model's input: n patches of d = cellPixels^2 values pixel / 255, patch j = cell j. */
export function composePatches(cells: readonly number[], digits: readonly Uint8Array[]): Float32Array {
  const d = digits[0]?.length ?? 0;
  const patches = new Float32Array(cells.length * d);
  cells.forEach((bank, j) => {
    const pixels = digits[bank];
    for (let k = 0; k < d; k++) patches[j * d + k] = pixels[k] / 255;
  });
  return patches;
}
