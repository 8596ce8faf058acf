/**
 * Corrupted data files for the real loaders: each format's valid fixture, and the damage done to
 * one of its files. test/data checks each loader's exact wording on hand-made faults; this table
 * damages files the way disks and downloads do (cut short, emptied, overwritten, deleted, mixed up)
 * and states the one property every loader must keep: a DataFileError naming the damaged file, or
 * (when the damage is harmless) exactly the data of the intact file.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Rng } from '../../src/util/random.js';
import { loadCelebaImages, loadCelebaIndex } from '../../src/data/celeba.js';
import { CIFAR10_RECORD_BYTES, encodeCifar10, loadCifar10 } from '../../src/data/cifar10.js';
import { encodeIdx } from '../../src/data/idx.js';
import { loadMnist, mnistFiles } from '../../src/data/mnist.js';
import { attributeText, bandedJpeg, CELEBA_NAMES, partitionText, writeCelebaFixture, type FixtureImage } from './celeba-fixture.js';

/** One data format: a folder of valid files, and how the loader reads it. */
interface Format {
  readonly name: string;
  write(): Promise<string>;
  load(dir: string): Promise<unknown>;
  /** Files (relative to the folder) whose damage the loader must notice. */
  readonly files: readonly string[];
  /**
   * No header: the first bytes are data (CIFAR's first byte is a label), so new first bytes that
   * happen to be valid data (a label 0-9: 10 in 256) are undetectable, not a loader's failure.
   */
  readonly headerless?: true;
}

const MNIST_IMAGES = 't10k-images-idx3-ubyte';
const MNIST_LABELS = 't10k-labels-idx1-ubyte';
const COUNT = 6;

function mnistIdx(count: number, labelOf = (i: number) => i % 10): { images: Uint8Array; labels: Uint8Array } {
  return {
    images: encodeIdx({ type: 'ubyte', shape: [count, 28, 28], data: Uint8Array.from({ length: count * 784 }, (_, i) => (i * 7) % 256) }),
    labels: encodeIdx({ type: 'ubyte', shape: [count], data: Uint8Array.from({ length: count }, (_, i) => labelOf(i)) }),
  };
}

const mnist: Format = {
  name: 'MNIST (IDX)',
  async write() {
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-fault-mnist-'));
    const { images, labels } = mnistIdx(COUNT);
    await writeFile(join(dir, MNIST_IMAGES), images);
    await writeFile(join(dir, MNIST_LABELS), labels);
    return dir;
  },
  load: (dir) => loadMnist('test', dir),
  files: [MNIST_IMAGES, MNIST_LABELS],
};

function cifarBytes(count: number): Uint8Array {
  const images = Uint8Array.from({ length: count * 3072 }, (_, i) => (i * 13) % 256);
  return encodeCifar10(
    images,
    Array.from({ length: count }, (_, i) => i % 10),
  );
}

const cifar: Format = {
  name: 'CIFAR-10 (binary)',
  async write() {
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-fault-cifar-'));
    await writeFile(join(dir, 'test_batch.bin'), cifarBytes(3));
    return dir;
  },
  load: (dir) => loadCifar10(dir, 'test', { recordsPerFile: 'any' }),
  files: ['test_batch.bin'],
  headerless: true,
};

const CELEBA_IMAGES: FixtureImage[] = [
  {
    file: '000001.jpg',
    values: CELEBA_NAMES.map((_, i) => (i % 3 === 0 ? 1 : -1)),
    partition: 0,
    jpeg: bandedJpeg(16, 24, [230, 20, 20], [20, 200, 40], [10, 30, 220]),
  },
  {
    file: '000002.jpg',
    values: CELEBA_NAMES.map((_, i) => (i % 2 === 0 ? 1 : -1)),
    partition: 2,
    jpeg: bandedJpeg(20, 20, [10, 30, 220], [230, 20, 20], [20, 200, 40]),
  },
];

const celeba: Format = {
  name: 'CelebA (attribute lists and JPEGs)',
  write: () => writeCelebaFixture(CELEBA_IMAGES),
  async load(dir) {
    const { dir: _, ...index } = await loadCelebaIndex(dir);
    return { index, images: await loadCelebaImages(dir, index.files, 8) };
  },
  files: ['list_attr_celeba.txt', 'list_eval_partition.txt', 'img_align_celeba/000002.jpg'],
};

export const FORMATS: readonly Format[] = [mnist, cifar, celeba];

/** Damage to one file: the new bytes, or null to delete it. */
type Damage = (bytes: Buffer, rng: Rng) => Buffer | null;

const randomBytes = (rng: Rng, length: number) => Buffer.from(Array.from({ length }, () => rng.int(256)));

const HEADER_DAMAGE = 'first 4 bytes overwritten (magic number, marker, count)';

/** Damage any file can suffer. */
const GENERIC: Record<string, Damage> = {
  deleted: () => null,
  emptied: () => Buffer.alloc(0),
  'cut short (random length)': (bytes, rng) => bytes.subarray(0, 1 + rng.int(bytes.length - 1)),
  'cut short by one byte': (bytes) => bytes.subarray(0, bytes.length - 1),
  [HEADER_DAMAGE]: (bytes, rng) => Buffer.concat([randomBytes(rng, 4), bytes.subarray(4)]),
  'replaced by random bytes of the same length': (bytes, rng) => randomBytes(rng, bytes.length),
  'random bytes appended': (bytes, rng) => Buffer.concat([bytes, randomBytes(rng, 1 + rng.int(16))]),
};

/** Damage that fits one format's contents: mixed-up files, values out of range, missing rows. */
const SPECIFIC: { format: Format; file: string; what: string; damage: Damage }[] = [
  { format: mnist, file: MNIST_LABELS, what: 'labels of a set of another size', damage: () => Buffer.from(mnistIdx(COUNT - 2).labels) },
  { format: mnist, file: MNIST_LABELS, what: 'a label of 12', damage: () => Buffer.from(mnistIdx(COUNT, (i) => (i === 3 ? 12 : i)).labels) },
  { format: mnist, file: MNIST_IMAGES, what: 'the label file in place of the images', damage: () => Buffer.from(mnistIdx(COUNT).labels) },
  {
    format: cifar,
    file: 'test_batch.bin',
    what: 'a label of 12',
    damage: (bytes) => Buffer.concat([bytes.subarray(0, CIFAR10_RECORD_BYTES), Buffer.from([12]), bytes.subarray(CIFAR10_RECORD_BYTES + 1)]),
  },
  { format: cifar, file: 'test_batch.bin', what: 'half a record missing', damage: (bytes) => bytes.subarray(0, bytes.length - CIFAR10_RECORD_BYTES / 2) },
  {
    format: celeba,
    file: 'list_attr_celeba.txt',
    what: 'an attribute row missing',
    damage: () => Buffer.from(attributeText(CELEBA_IMAGES).replace(/^000002\.jpg.*\n/m, '')),
  },
  {
    format: celeba,
    file: 'list_attr_celeba.txt',
    what: 'a row with 39 values',
    damage: () => Buffer.from(attributeText(CELEBA_IMAGES).replace(/ +-?1$/m, '')),
  },
  { format: celeba, file: 'list_eval_partition.txt', what: 'a partition row missing', damage: () => Buffer.from(partitionText(CELEBA_IMAGES.slice(0, 1))) },
  { format: celeba, file: 'img_align_celeba/000002.jpg', what: 'text where a JPEG should be', damage: () => Buffer.from('<html>404 Not Found</html>\n') },
];

export interface DataFault {
  readonly format: Format;
  /** The damaged file, relative to the folder. */
  readonly file: string;
  readonly what: string;
  /** Writes a fresh folder with the damage done; returns the folder. */
  make(rng: Rng): Promise<string>;
}

/** Every format x file x generic damage, then the format-specific ones. */
export function dataFaults(): DataFault[] {
  const damaged = (format: Format, file: string, what: string, damage: Damage): DataFault => ({
    format,
    file,
    what,
    async make(rng) {
      const dir = await format.write();
      const path = join(dir, file);
      const bytes = damage(await readFile(path), rng);
      if (bytes === null) await rm(path);
      else await writeFile(path, bytes);
      return dir;
    },
  });
  return [
    ...FORMATS.flatMap((format) =>
      format.files.flatMap((file) =>
        Object.entries(GENERIC)
          .filter(([what]) => !(format.headerless && what === HEADER_DAMAGE))
          .map(([what, damage]) => damaged(format, file, what, damage)),
      ),
    ),
    ...SPECIFIC.map(({ format, file, what, damage }) => damaged(format, file, what, damage)),
  ];
}

/** The path a loader's error must name for a damaged MNIST file (the loader resolves it). */
export function expectedPath(dir: string, file: string): string {
  if (file === MNIST_IMAGES) return mnistFiles('test', dir).images;
  if (file === MNIST_LABELS) return mnistFiles('test', dir).labels;
  return join(dir, file);
}
