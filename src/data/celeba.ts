/**
 * CelebA, aligned-and-cropped version. Nothing is downloaded: the caller names the folder, which holds
 *   img_align_celeba/*.jpg      178 x 218 RGB JPEGs (000001.jpg ... 202599.jpg)
 *   list_attr_celeba.txt        line 1: the image count; line 2: the 40 attribute names;
 *                               then one line per image: "<file> <40 values, each 1 or -1>"
 *   list_eval_partition.txt     one line per image: "<file> <0|1|2>" (train / val / test)
 * Fields are separated by any run of spaces or tabs (the real files align columns with double spaces);
 * Windows line ends and a final empty line are accepted.
 */
import { join, resolve } from 'node:path';
import { outsideFolderProblem } from '../util/inside-folder.js';
import jpeg from 'jpeg-js';
import { DataFileError } from './data-file-error.js';
import { readDataFile } from './read-data-file.js';
import { centerSquare, resizeArea, toBytes } from './image-ops.js';

export const CELEBA_ATTRIBUTE_COUNT = 40;
/** Partition names by list_eval_partition.txt code 0, 1, 2. */
export const CELEBA_PARTITIONS = ['train', 'val', 'test'] as const;
export type CelebaPartition = (typeof CELEBA_PARTITIONS)[number];
export const CELEBA_IMAGE_DIR = 'img_align_celeba';
export const CELEBA_ATTRIBUTE_FILE = 'list_attr_celeba.txt';
export const CELEBA_PARTITION_FILE = 'list_eval_partition.txt';
const KIND = 'CelebA file';

/** The parsed attribute and partition lists, row r describing files[r]. */
export interface CelebaIndex {
  readonly dir: string;
  readonly count: number;
  /** The 40 names of line 2 (5_o_Clock_Shadow ... Young). */
  readonly attributeNames: readonly string[];
  /** Image file names, in list_attr_celeba.txt's order. */
  readonly files: readonly string[];
  /** [count, 40] row-major, each 1 or -1. */
  readonly attributes: Int8Array;
  /** Partition code per row: 0 train, 1 val, 2 test (CELEBA_PARTITIONS names them). */
  readonly partition: Uint8Array;
}

// The largest list or image file read: the real attribute list is 26 MB, an aligned image about 10 kB.
const MAX_FILE_BYTES = 256 * 1024 * 1024;

const readNamed = (file: string, kind = KIND): Promise<Buffer> => readDataFile(file, kind, { maxBytes: MAX_FILE_BYTES });

/** Lines without their ends; a trailing empty line (or several) is dropped. */
function lines(text: string): string[] {
  const all = text.split(/\r?\n/);
  while (all.length > 0 && all[all.length - 1].trim() === '') all.pop();
  return all;
}

const fields = (line: string) => line.trim().split(/\s+/).filter(Boolean);

const shorten = (line: string) => (line.length > 80 ? `${line.slice(0, 77)}...` : line);

/** Parses list_attr_celeba.txt's text; `file` names it in errors (with 1-based line numbers). */
export function parseCelebaAttributes(text: string, file: string): { files: string[]; attributeNames: string[]; attributes: Int8Array } {
  const fail = (line: number, problem: string): never => {
    throw new DataFileError(file, `line ${line}: ${problem}`, KIND);
  };
  const all = lines(text);
  if (all.length < 2) fail(all.length + 1, 'missing: expected the image count on line 1 and the 40 attribute names on line 2');
  const countText = all[0].trim();
  if (!/^\d+$/.test(countText)) fail(1, `expected the image count (a whole number), found '${shorten(countText)}'`);
  const count = Number(countText);
  const attributeNames = fields(all[1]);
  if (attributeNames.length !== CELEBA_ATTRIBUTE_COUNT) {
    fail(2, `expected ${CELEBA_ATTRIBUTE_COUNT} attribute names, found ${attributeNames.length}`);
  }
  const rows = all.length - 2;
  if (rows !== count) {
    fail(rows < count ? all.length + 1 : count + 3, `line 1 announces ${count} images but the file lists ${rows}`);
  }
  const files: string[] = [];
  const attributes = new Int8Array(count * CELEBA_ATTRIBUTE_COUNT);
  const seen = new Map<string, number>();
  for (let r = 0; r < count; r++) {
    const lineNumber = r + 3;
    const parts = fields(all[r + 2]);
    if (parts.length !== CELEBA_ATTRIBUTE_COUNT + 1) {
      fail(lineNumber, `expected a file name and ${CELEBA_ATTRIBUTE_COUNT} values, found ${Math.max(0, parts.length - 1)} values in '${shorten(all[r + 2])}'`);
    }
    const name = parts[0];
    const outside = outsideFolderProblem(name);
    if (outside)
      fail(lineNumber, `image name '${shorten(name)}' does not stay inside ${CELEBA_IMAGE_DIR}/ (${outside}); names are files there, such as 000001.jpg`);
    const earlier = seen.get(name);
    if (earlier !== undefined) fail(lineNumber, `image ${name} is listed twice (first on line ${earlier})`);
    seen.set(name, lineNumber);
    files.push(name);
    for (let a = 0; a < CELEBA_ATTRIBUTE_COUNT; a++) {
      const value = parts[a + 1];
      if (value !== '1' && value !== '-1') {
        fail(lineNumber, `value ${a + 1} (${attributeNames[a]}) of ${name} is '${value}'; values are 1 or -1`);
      }
      attributes[r * CELEBA_ATTRIBUTE_COUNT + a] = value === '1' ? 1 : -1;
    }
  }
  return { files, attributeNames, attributes };
}

/**
 * Parses list_eval_partition.txt's text against the attribute list's `files`: every line names one of
 * them and gives 0, 1 or 2, and every one of them appears exactly once. Returns codes in `files` order.
 */
export function parseCelebaPartition(text: string, file: string, files: readonly string[]): Uint8Array {
  const fail = (line: number, problem: string): never => {
    throw new DataFileError(file, `line ${line}: ${problem}`, KIND);
  };
  const rowOf = new Map(files.map((name, row) => [name, row]));
  const partition = new Uint8Array(files.length).fill(255);
  const lineOf = new Int32Array(files.length);
  const all = lines(text);
  all.forEach((line, i) => {
    const lineNumber = i + 1;
    const parts = fields(line);
    if (parts.length !== 2) fail(lineNumber, `expected "<file> <0|1|2>", found '${shorten(line)}'`);
    const [name, code] = parts;
    if (code !== '0' && code !== '1' && code !== '2') fail(lineNumber, `partition of ${name} is '${code}'; allowed 0 (train), 1 (val), 2 (test)`);
    const row = rowOf.get(name);
    if (row === undefined) fail(lineNumber, `image ${name} is not in the attribute list`);
    if (partition[row!] !== 255) fail(lineNumber, `image ${name} is listed twice (first on line ${lineOf[row!]})`);
    partition[row!] = Number(code);
    lineOf[row!] = lineNumber;
  });
  const missing = partition.indexOf(255);
  if (missing >= 0) {
    fail(all.length + 1, `image ${files[missing]} of the attribute list has no partition (${files.length} images listed there, ${all.length} lines here)`);
  }
  return partition;
}

/** Reads and checks `list_attr_celeba.txt` and `list_eval_partition.txt` in `dir`. */
export async function loadCelebaIndex(dir: string): Promise<CelebaIndex> {
  const attributeFile = resolve(dir, CELEBA_ATTRIBUTE_FILE);
  const partitionFile = resolve(dir, CELEBA_PARTITION_FILE);
  // One after the other, so that when both files are bad the error does not depend on timing.
  const attributeText = await readNamed(attributeFile);
  const partitionText = await readNamed(partitionFile);
  const { files, attributeNames, attributes } = parseCelebaAttributes(attributeText.toString('utf8'), attributeFile);
  const partition = parseCelebaPartition(partitionText.toString('utf8'), partitionFile, files);
  return { dir: resolve(dir), count: files.length, attributeNames, files, attributes, partition };
}

/** Decodes JPEG bytes to RGB (any JPEG jpeg-js reads: colour or greyscale); `file` names it in errors. */
export function decodeJpeg(bytes: Uint8Array, file: string, kind = 'JPEG file'): { width: number; height: number; data: Uint8Array } {
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false, maxMemoryUsageInMB: 1024 });
  } catch (error) {
    throw new DataFileError(file, `not a readable JPEG: ${error instanceof Error ? error.message : String(error)}`, kind, { cause: error });
  }
  if (!(decoded.width > 0 && decoded.height > 0) || decoded.data.length !== decoded.width * decoded.height * 3) {
    throw new DataFileError(file, `not a readable JPEG: decoded to ${decoded.width}x${decoded.height} with ${decoded.data.length} bytes`, kind);
  }
  return decoded;
}

/** Reads and decodes one JPEG file to RGB (backgrounds for `cifarBackgroundNoise`, CelebA images). */
export async function readJpeg(file: string, kind = 'JPEG file'): Promise<{ width: number; height: number; data: Uint8Array }> {
  return decodeJpeg(await readNamed(file, kind), file, kind);
}

export interface CelebaImageOptions {
  /**
   * Side of the centred square cut before resizing; default the image's shorter side (178 for the
   * aligned images: rows 20..197, all columns).
   */
  readonly cropSize?: number;
}

/**
 * Decodes `files` (names inside img_align_celeba/) with jpeg-js, cuts the centred square (see
 * `cropSize`) and resizes it to `size` x `size` by area averaging (each output pixel the mean of the
 * source area it covers; 178 -> 64 averages about 2.8 x 2.8 source pixels). Returns NHWC bytes
 * [files.length, size, size, 3] in `files` order. A missing or unreadable JPEG is a DataFileError
 * naming the file.
 */
export async function loadCelebaImages(
  dir: string,
  files: readonly string[],
  size = 64,
  options: CelebaImageOptions = {},
): Promise<{ images: Uint8Array; shape: [number, number, number, 3] }> {
  if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`loadCelebaImages: size must be an integer >= 1; got ${size}`);
  const imageSize = size * size * 3;
  const images = new Uint8Array(files.length * imageSize);
  // Reads run a few ahead of the (synchronous) decoding.
  const ahead = 8;
  const imageDir = join(resolve(dir), CELEBA_IMAGE_DIR);
  const paths = files.map((name) => {
    const problem = outsideFolderProblem(name);
    if (problem) throw new DataFileError(join(imageDir, name), `the image name '${name}' does not stay inside ${imageDir} (${problem})`, 'CelebA image');
    return join(imageDir, name);
  });
  const reads: Promise<Buffer>[] = [];
  const startRead = (i: number) => {
    if (i >= paths.length) return;
    reads[i] = readNamed(paths[i], 'CelebA image');
    // A read ahead may fail while an earlier image decodes, or after a failure ends the loop:
    // marked handled now, so it never rejects unobserved (Node would end the process); awaiting it still throws.
    reads[i].catch(() => undefined);
  };
  for (let i = 0; i < Math.min(ahead, paths.length); i++) startRead(i);
  for (let i = 0; i < paths.length; i++) {
    const bytes = await reads[i];
    delete reads[i];
    startRead(i + ahead);
    const { width, height, data } = decodeJpeg(bytes, paths[i], 'CelebA image');
    let box;
    try {
      box = centerSquare(height, width, options.cropSize);
    } catch (error) {
      throw new DataFileError(paths[i], `cannot cut a centred ${options.cropSize}-pixel square from a ${width}x${height} image`, 'CelebA image', {
        cause: error,
      });
    }
    images.set(toBytes(resizeArea(data, height, width, 3, size, size, box)), i * imageSize);
  }
  return { images, shape: [files.length, size, size, 3] };
}
