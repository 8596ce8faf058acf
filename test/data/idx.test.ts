import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeIdx, parseIdx, readIdx, type IdxArray } from '../../src/data/idx.js';
import { DataFileError } from '../../src/data/data-file-error.js';

const dir = mkdtempSync(join(tmpdir(), 'pmoe-idx-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** IDX bytes assembled by hand (independently of encodeIdx): magic, sizes, then `payload` as given. */
function idxBytes(typeByte: number, shape: number[], payload: Buffer, dimsByte = shape.length): Buffer {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = typeByte;
  header[3] = dimsByte;
  shape.forEach((dim, k) => header.writeUInt32BE(dim, 4 + 4 * k));
  return Buffer.concat([header, payload]);
}

function writeFile(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

function int32Payload(values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeInt32BE(v, 4 * i));
  return b;
}

function float32Payload(values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeFloatBE(v, 4 * i));
  return b;
}

test('reads unsigned bytes, 1 dimension', async () => {
  const path = writeFile('ubyte-1d', idxBytes(0x08, [5], Buffer.from([0, 1, 127, 128, 255])));
  const array = await readIdx(path);
  assert.equal(array.type, 'ubyte');
  assert.deepEqual(array.shape, [5]);
  assert.ok(array.data instanceof Uint8Array);
  assert.deepEqual([...array.data], [0, 1, 127, 128, 255]);
});

test('reads big-endian int32, 2 dimensions, negative values included', async () => {
  const values = [0, 1, -1, 2147483647, -2147483648, 123456789];
  const path = writeFile('int-2d', idxBytes(0x0c, [2, 3], int32Payload(values)));
  const array = await readIdx(path);
  assert.equal(array.type, 'int');
  assert.deepEqual(array.shape, [2, 3]);
  assert.ok(array.data instanceof Int32Array);
  assert.deepEqual([...array.data], values);
});

test('reads big-endian float32, 3 dimensions', async () => {
  const values = [0, 1.5, -2.25, 3.75, 1e-3, -1e6, 0.1, 42];
  const path = writeFile('float-3d', idxBytes(0x0d, [2, 2, 2], float32Payload(values)));
  const array = await readIdx(path);
  assert.equal(array.type, 'float');
  assert.deepEqual(array.shape, [2, 2, 2]);
  assert.ok(array.data instanceof Float32Array);
  assert.deepEqual([...array.data], values.map(Math.fround));
});

test('reads signed bytes, shorts and doubles', () => {
  const bytes = parseIdx(idxBytes(0x09, [3], Buffer.from([0x80, 0xff, 0x7f])), 'byte-file');
  assert.equal(bytes.type, 'byte');
  assert.deepEqual([...bytes.data], [-128, -1, 127]);

  const shortPayload = Buffer.alloc(6);
  [-300, 0, 32767].forEach((v, i) => shortPayload.writeInt16BE(v, 2 * i));
  const shorts = parseIdx(idxBytes(0x0b, [1, 3], shortPayload), 'short-file');
  assert.equal(shorts.type, 'short');
  assert.deepEqual([...shorts.data], [-300, 0, 32767]);

  const doublePayload = Buffer.alloc(16);
  doublePayload.writeDoubleBE(Math.PI, 0);
  doublePayload.writeDoubleBE(-1e300, 8);
  const doubles = parseIdx(idxBytes(0x0e, [2], doublePayload), 'double-file');
  assert.equal(doubles.type, 'double');
  assert.deepEqual([...doubles.data], [Math.PI, -1e300]);
});

test('a dimension of size 0 is a valid empty array', () => {
  const array = parseIdx(idxBytes(0x08, [0, 28, 28], Buffer.alloc(0)), 'empty-array');
  assert.deepEqual(array.shape, [0, 28, 28]);
  assert.equal(array.data.length, 0);
});

test('parses bytes that sit at an offset inside a larger buffer', () => {
  const file = idxBytes(0x0c, [2], int32Payload([7, -7]));
  const host = new Uint8Array(file.length + 3);
  host.set(file, 3);
  const array = parseIdx(host.subarray(3), 'offset-file');
  assert.deepEqual([...array.data], [7, -7]);
});

test('encodeIdx writes the bytes the format specifies and round-trips through parseIdx', () => {
  const arrays: IdxArray[] = [
    { type: 'ubyte', shape: [2, 2], data: Uint8Array.from([1, 2, 3, 255]) },
    { type: 'int', shape: [3], data: Int32Array.from([5, -6, 7]) },
    { type: 'float', shape: [1, 1, 2], data: Float32Array.from([0.5, -8]) },
  ];
  assert.deepEqual(Buffer.from(encodeIdx(arrays[1])), idxBytes(0x0c, [3], int32Payload([5, -6, 7])));
  for (const array of arrays) {
    const back = parseIdx(encodeIdx(array), 'round-trip');
    assert.equal(back.type, array.type);
    assert.deepEqual(back.shape, array.shape);
    assert.deepEqual([...back.data], [...array.data]);
  }
});

/** Reading `path` fails with a DataFileError whose message names the file and matches `problem`. */
async function assertFileError(path: string, problem: RegExp): Promise<void> {
  await assert.rejects(readIdx(path), (error: unknown) => {
    assert.ok(error instanceof DataFileError, `expected a DataFileError, got ${String(error)}`);
    assert.equal(error.file, path);
    assert.ok(error.message.startsWith(`IDX file ${path}: `), error.message);
    assert.match(error.message, problem);
    return true;
  });
}

test('corrupted or missing files: each error names the file and the problem', async () => {
  await assertFileError(join(dir, 'no-such-file'), /cannot read: no such file/);
  const folder = join(dir, 'a-folder');
  mkdirSync(folder);
  await assertFileError(folder, /is a folder, not a regular file/);
  await assertFileError(writeFile('empty', new Uint8Array(0)), /empty file/);
  await assertFileError(writeFile('two-bytes', Buffer.from([0, 0])), /truncated header: expected at least 4 bytes \(the magic number\), found 2/);
  // Declares 3 dimensions (16 header bytes) but stops after the first size.
  await assertFileError(
    writeFile('short-header', idxBytes(0x08, [10, 28, 28], Buffer.alloc(0)).subarray(0, 8)),
    /truncated header: 3 dimensions need 16 header bytes, found 8/,
  );
  await assertFileError(writeFile('short-data', idxBytes(0x08, [3, 28, 28], Buffer.alloc(2 * 784 + 10))), /truncated: expected 2352 bytes of data, found 1578/);
  await assertFileError(writeFile('short-int-data', idxBytes(0x0c, [4], Buffer.alloc(15))), /truncated: expected 16 bytes of data, found 15/);
  await assertFileError(writeFile('long-data', idxBytes(0x08, [4], Buffer.alloc(6))), /extra data: expected 4 bytes of data, found 6 \(2 bytes after the end/);
  const wrongMagic = idxBytes(0x08, [2], Buffer.alloc(2));
  wrongMagic[1] = 0x01;
  wrongMagic[2] = 0x02;
  wrongMagic[3] = 0x00;
  await assertFileError(writeFile('wrong-magic', wrongMagic), /bad magic number 0x00010200 \(expected 0x0000TTDD/);
  await assertFileError(
    writeFile('unknown-type', idxBytes(0x0a, [2], Buffer.alloc(2))),
    /unknown data type byte 0x0A in magic number 0x00000A01 \(known: 0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double\)/,
  );
  await assertFileError(writeFile('zero-dims', idxBytes(0x08, [], Buffer.alloc(0))), /magic number 0x00000800 declares 0 dimensions/);
  await assertFileError(writeFile('gzipped', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 1, 2, 3])), /gzip-compressed/);
});

test('the error kind and name come from the caller', () => {
  assert.throws(
    () => parseIdx(new Uint8Array(0), '/data/train-images-idx3-ubyte', 'MNIST file'),
    (error: unknown) =>
      error instanceof DataFileError &&
      error.name === 'DataFileError' &&
      error.message === 'MNIST file /data/train-images-idx3-ubyte: empty file (expected an IDX header of at least 4 bytes)',
  );
  const bad = Buffer.from([0, 0, 0x08, 0x03, 0, 0, 0, 1]);
  bad[1] = 0x01;
  bad[2] = 0x02;
  bad[3] = 0x03;
  assert.throws(() => parseIdx(bad, '/x/y', 'MNIST file'), /^DataFileError: MNIST file \/x\/y: bad magic number 0x00010203/);
});
