/**
 * CIFAR-10, binary version (the `cifar-10-batches-bin` folder of cifar-10-binary.tar.gz).
 * Nothing is downloaded: the caller names the folder.
 *
 * Files: data_batch_1.bin .. data_batch_5.bin (train) and test_batch.bin (test). Each holds
 * 10000 records of 3073 bytes: one label byte 0..9, then 3072 pixel bytes: the 1024 red values
 * of the 32x32 image in row-major order, then the 1024 green, then the 1024 blue.
 */
import { resolve } from 'node:path';
import { DataFileError } from './data-file-error.js';
import { readDataFile } from './read-data-file.js';

export type Cifar10SplitName = 'train' | 'test';

export const CIFAR10_SIZE = 32;
export const CIFAR10_RECORD_BYTES = 1 + 3 * CIFAR10_SIZE * CIFAR10_SIZE;
export const CIFAR10_RECORDS_PER_FILE = 10000;
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;
const KIND = 'CIFAR-10 file';

/** One split of CIFAR-10. */
export interface Cifar10Split {
  readonly split: Cifar10SplitName;
  /** NHWC [count, 32, 32, 3] unsigned bytes (RGB). */
  readonly images: Uint8Array;
  /** Class 0..9 per image (CIFAR10_CLASSES names them). */
  readonly labels: Uint8Array;
  readonly count: number;
  readonly shape: readonly [number, 32, 32, 3];
  /** The files read, in order. */
  readonly files: readonly string[];
}

export interface Cifar10Options {
  /**
   * Records each file must hold. The real files hold exactly 10000 (the default); a number (at most
   * 10000) checks that count, 'any' accepts any whole number of records up to 10000 (small
   * fixtures, truncated copies).
   */
  readonly recordsPerFile?: number | 'any';
}

/** The files of `split` in `dir`, in the order their records are concatenated. */
export function cifar10Files(dir: string, split: Cifar10SplitName): string[] {
  if (split === 'test') return [resolve(dir, 'test_batch.bin')];
  return [1, 2, 3, 4, 5].map((i) => resolve(dir, `data_batch_${i}.bin`));
}

function readProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT') return 'cannot read: no such file (CIFAR-10 binary version: data_batch_1.bin .. data_batch_5.bin, test_batch.bin)';
  if (code === 'EACCES' || code === 'EPERM') return `cannot read: permission denied (${code})`;
  if (code === 'EISDIR') return 'cannot read: it is a directory';
  return `cannot read: ${error instanceof Error ? error.message : String(error)}`;
}

/** What is wrong with a file of `size` bytes that should hold `expected` records (or any whole number of them); undefined when nothing is. */
function cifar10SizeProblem(size: number, expected: number | 'any'): string | undefined {
  if (size === 0 || size % CIFAR10_RECORD_BYTES !== 0) {
    const whole = Math.floor(size / CIFAR10_RECORD_BYTES);
    return (
      `size ${size} bytes is not a whole number of ${CIFAR10_RECORD_BYTES}-byte records ` +
      `(${whole} records and ${size - whole * CIFAR10_RECORD_BYTES} bytes over${expected === 'any' ? '' : `; expected ${expected * CIFAR10_RECORD_BYTES} bytes = ${expected} records`}); ` +
      'is it the binary version of CIFAR-10?'
    );
  }
  const count = size / CIFAR10_RECORD_BYTES;
  if (expected === 'any' && count > CIFAR10_RECORDS_PER_FILE) {
    return (
      `holds ${count} records (${size} bytes), more than the ${CIFAR10_RECORDS_PER_FILE} of a CIFAR-10 batch file; ` +
      `recordsPerFile 'any' (cifarRecordsPerFile in a sweep) takes fixtures and truncated copies of at most that many`
    );
  }
  if (expected !== 'any' && count !== expected) {
    return `holds ${count} records (${size} bytes) but expected ${expected} records (${expected * CIFAR10_RECORD_BYTES} bytes of ${CIFAR10_RECORD_BYTES}-byte records)`;
  }
  return undefined;
}

/**
 * Checks one file's bytes and returns its record count. `expected` is the records the file must
 * hold, or 'any'.
 */
export function checkCifar10Bytes(bytes: Uint8Array, file: string, expected: number | 'any' = CIFAR10_RECORDS_PER_FILE): number {
  const problem = cifar10SizeProblem(bytes.length, expected);
  if (problem) throw new DataFileError(file, problem, KIND);
  const count = bytes.length / CIFAR10_RECORD_BYTES;
  for (let r = 0; r < count; r++) {
    const label = bytes[r * CIFAR10_RECORD_BYTES];
    if (label > 9) {
      throw new DataFileError(file, `record ${r} (byte offset ${r * CIFAR10_RECORD_BYTES}) has label ${label}; labels are 0..9`, KIND);
    }
  }
  return count;
}

/** Copies `count` records of `bytes` into NHWC images and labels at `offset` (in images). */
function unpack(bytes: Uint8Array, count: number, images: Uint8Array, labels: Uint8Array, offset: number): void {
  const plane = CIFAR10_SIZE * CIFAR10_SIZE;
  for (let r = 0; r < count; r++) {
    const record = r * CIFAR10_RECORD_BYTES;
    labels[offset + r] = bytes[record];
    const out = (offset + r) * plane * 3;
    for (let p = 0; p < plane; p++) {
      images[out + 3 * p] = bytes[record + 1 + p];
      images[out + 3 * p + 1] = bytes[record + 1 + plane + p];
      images[out + 3 * p + 2] = bytes[record + 1 + 2 * plane + p];
    }
  }
}

/**
 * Reads one split of CIFAR-10's binary version from `dir`. Every problem (missing file, a size that
 * is not 10000 records of 3073 bytes, a label over 9) is a DataFileError naming the file.
 */
export async function loadCifar10(dir: string, split: Cifar10SplitName, options: Cifar10Options = {}): Promise<Cifar10Split> {
  if (split !== 'train' && split !== 'test') {
    throw new RangeError(`CIFAR-10 split must be 'train' or 'test' (got ${JSON.stringify(split)})`);
  }
  const expected = options.recordsPerFile ?? CIFAR10_RECORDS_PER_FILE;
  if (expected !== 'any' && !(Number.isInteger(expected) && expected >= 1 && expected <= CIFAR10_RECORDS_PER_FILE)) {
    throw new RangeError(`CIFAR-10 option recordsPerFile must be an integer in 1..${CIFAR10_RECORDS_PER_FILE} or 'any' (got ${JSON.stringify(expected)})`);
  }
  const files = cifar10Files(dir, split);
  // In order, so that a missing or bad file is reported as the first one, every time.
  const contents: Buffer[] = [];
  // Each file's type and size are checked before it is read.
  for (const file of files) contents.push(await readDataFile(file, KIND, { size: (bytes) => cifar10SizeProblem(bytes, expected), readProblem }));
  const counts = contents.map((bytes, i) => checkCifar10Bytes(bytes, files[i], expected));
  const count = counts.reduce((a, b) => a + b, 0);
  const images = new Uint8Array(count * CIFAR10_SIZE * CIFAR10_SIZE * 3);
  const labels = new Uint8Array(count);
  let offset = 0;
  contents.forEach((bytes, i) => {
    unpack(bytes, counts[i], images, labels, offset);
    offset += counts[i];
  });
  return { split, images, labels, count, shape: [count, 32, 32, 3], files };
}

/** The bytes of a CIFAR-10 binary file holding NHWC `images` [count, 32, 32, 3] and `labels` (the inverse of the reader; tests and tools). */
export function encodeCifar10(images: Uint8Array, labels: ArrayLike<number>): Uint8Array {
  const count = labels.length;
  const plane = CIFAR10_SIZE * CIFAR10_SIZE;
  if (images.length !== count * plane * 3) {
    throw new RangeError(`encodeCifar10: ${images.length} pixel bytes do not make ${count} images of 32x32x3`);
  }
  const bytes = new Uint8Array(count * CIFAR10_RECORD_BYTES);
  for (let r = 0; r < count; r++) {
    const record = r * CIFAR10_RECORD_BYTES;
    bytes[record] = labels[r];
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) bytes[record + 1 + c * plane + p] = images[(r * plane + p) * 3 + c];
    }
  }
  return bytes;
}
