/**
 * A reader of the IDX format, the file format of MNIST.
 *
 * Layout (all big-endian): two zero bytes, a type byte, a byte with the number of dimensions D,
 * then D uint32 sizes, then the elements in row-major order. Nothing may follow the data.
 */
import { DataFileError } from './data-file-error.js';
import { readDataFile } from './read-data-file.js';

interface IdxTypeInfo {
  readonly name: IdxType;
  readonly size: number;
}

const TYPES = {
  0x08: { name: 'ubyte', size: 1 },
  0x09: { name: 'byte', size: 1 },
  0x0b: { name: 'short', size: 2 },
  0x0c: { name: 'int', size: 4 },
  0x0d: { name: 'float', size: 4 },
  0x0e: { name: 'double', size: 8 },
} as const satisfies Record<number, IdxTypeInfo>;

export type IdxType = 'ubyte' | 'byte' | 'short' | 'int' | 'float' | 'double';

/** The type byte of each element type (0x08 ubyte ... 0x0E double). */
export const IDX_TYPE_CODES: Readonly<Record<IdxType, number>> = Object.freeze({
  ubyte: 0x08,
  byte: 0x09,
  short: 0x0b,
  int: 0x0c,
  float: 0x0d,
  double: 0x0e,
});

interface IdxArrayOf<T extends IdxType, A> {
  readonly type: T;
  /** Sizes of the dimensions, outermost first. */
  readonly shape: number[];
  /** The elements in row-major order, in native byte order. */
  readonly data: A;
}

/** A parsed IDX file; `type` tells which typed array `data` is. */
export type IdxArray =
  | IdxArrayOf<'ubyte', Uint8Array>
  | IdxArrayOf<'byte', Int8Array>
  | IdxArrayOf<'short', Int16Array>
  | IdxArrayOf<'int', Int32Array>
  | IdxArrayOf<'float', Float32Array>
  | IdxArrayOf<'double', Float64Array>;

const hex = (value: number, digits: number) => `0x${value.toString(16).toUpperCase().padStart(digits, '0')}`;
const KNOWN_TYPES = Object.entries(TYPES)
  .map(([code, info]) => `${hex(Number(code), 2)} ${info.name}`)
  .join(', ');

/**
 * Parses the bytes of an IDX file. `name` is the file as errors should name it; `kind` describes it
 * ('MNIST file' reads better than 'IDX file' where the caller knows).
 * Unsigned bytes are returned as a view on `bytes` (MNIST's training images are 47 MB); other types
 * are copied into native byte order.
 */
export function parseIdx(bytes: Uint8Array, name: string, kind = 'IDX file'): IdxArray {
  const fail = (problem: string): never => {
    throw new DataFileError(name, problem, kind);
  };
  if (bytes.length === 0) fail('empty file (expected an IDX header of at least 4 bytes)');
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    fail('gzip-compressed data (decompress it first: IDX files start with two zero bytes)');
  }
  if (bytes.length < 4) fail(`truncated header: expected at least 4 bytes (the magic number), found ${bytes.length}`);

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const expectedMagic = 'expected 0x0000TTDD: two zero bytes, a type byte TT and the number of dimensions DD';
  if (bytes[0] !== 0 || bytes[1] !== 0) fail(`bad magic number ${hex(magic, 8)} (${expectedMagic})`);
  const typeCode = bytes[2];
  const info: IdxTypeInfo | undefined = (TYPES as Record<number, IdxTypeInfo>)[typeCode];
  if (info === undefined) {
    fail(`unknown data type byte ${hex(typeCode, 2)} in magic number ${hex(magic, 8)} (known: ${KNOWN_TYPES})`);
  }
  const { name: type, size } = info as IdxTypeInfo;
  const dims = bytes[3];
  if (dims === 0) fail(`magic number ${hex(magic, 8)} declares 0 dimensions (expected at least 1)`);

  const headerBytes = 4 + 4 * dims;
  if (bytes.length < headerBytes) {
    fail(`truncated header: ${dims} dimension${dims > 1 ? 's need' : ' needs'} ${headerBytes} header bytes, found ${bytes.length}`);
  }
  const shape: number[] = [];
  let elements = 1;
  for (let k = 0; k < dims; k++) {
    const dim = view.getUint32(4 + 4 * k, false);
    shape.push(dim);
    elements *= dim;
  }
  const expectedBytes = elements * size;
  // A product of uint32 sizes can pass 2^53; no real file is that large, and the exact-length test below needs exact numbers.
  if (!Number.isSafeInteger(expectedBytes)) {
    fail(`dimensions [${shape.join(', ')}] describe more data than any file can hold`);
  }
  const found = bytes.length - headerBytes;
  if (found < expectedBytes) {
    fail(`truncated: expected ${expectedBytes} bytes of data, found ${found} (shape [${shape.join(', ')}], ${type})`);
  }
  if (found > expectedBytes) {
    fail(
      `extra data: expected ${expectedBytes} bytes of data, found ${found} ` +
        `(${found - expectedBytes} bytes after the end; shape [${shape.join(', ')}], ${type})`,
    );
  }

  const start = bytes.byteOffset + headerBytes;
  switch (type) {
    case 'ubyte':
      return { type, shape, data: new Uint8Array(bytes.buffer, start, elements) };
    case 'byte':
      return { type, shape, data: new Int8Array(bytes.buffer, start, elements) };
    case 'short': {
      const data = new Int16Array(elements);
      for (let i = 0; i < elements; i++) data[i] = view.getInt16(headerBytes + 2 * i, false);
      return { type, shape, data };
    }
    case 'int': {
      const data = new Int32Array(elements);
      for (let i = 0; i < elements; i++) data[i] = view.getInt32(headerBytes + 4 * i, false);
      return { type, shape, data };
    }
    case 'float': {
      const data = new Float32Array(elements);
      for (let i = 0; i < elements; i++) data[i] = view.getFloat32(headerBytes + 4 * i, false);
      return { type, shape, data };
    }
    case 'double': {
      const data = new Float64Array(elements);
      for (let i = 0; i < elements; i++) data[i] = view.getFloat64(headerBytes + 8 * i, false);
      return { type, shape, data };
    }
  }
}

/** Reads and parses an IDX file; every failure is a DataFileError naming `path`. */
export async function readIdx(path: string, kind = 'IDX file'): Promise<IdxArray> {
  // A regular file, read up to the size it had when opened; parseIdx then checks that size against the header.
  return parseIdx(await readDataFile(path, kind), path, kind);
}

/** The bytes of an IDX file holding `data` with `shape` (the inverse of parseIdx; tests and tools write files with it). */
export function encodeIdx(array: IdxArray): Uint8Array {
  const { type, shape, data } = array;
  const size = data.BYTES_PER_ELEMENT;
  const headerBytes = 4 + 4 * shape.length;
  const bytes = new Uint8Array(headerBytes + data.length * size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, (IDX_TYPE_CODES[type] << 8) | shape.length, false);
  shape.forEach((dim, k) => view.setUint32(4 + 4 * k, dim, false));
  for (let i = 0; i < data.length; i++) {
    const at = headerBytes + size * i;
    switch (type) {
      case 'ubyte':
        view.setUint8(at, data[i]);
        break;
      case 'byte':
        view.setInt8(at, data[i]);
        break;
      case 'short':
        view.setInt16(at, data[i], false);
        break;
      case 'int':
        view.setInt32(at, data[i], false);
        break;
      case 'float':
        view.setFloat32(at, data[i], false);
        break;
      case 'double':
        view.setFloat64(at, data[i], false);
        break;
    }
  }
  return bytes;
}
