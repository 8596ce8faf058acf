/**
 * Reads a data file that may be gzip-compressed (Debian ships Fashion-MNIST as .gz IDX files),
 * so the IDX parser always sees plain bytes. node:zlib does the decompression: no package needed.
 */
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { DataFileError, readProblem } from './data-file-error.js';

const gunzipAsync = promisify(gunzip);

/** True when `bytes` start with gzip's magic number 1F 8B. */
export const isGzip = (bytes: Uint8Array) => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;

/** The file's bytes, decompressed when they are gzip; every failure is a DataFileError naming `path`. */
export async function readMaybeGzipped(path: string, kind = 'IDX file'): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new DataFileError(path, readProblem(error), kind, { cause: error });
  }
  if (!isGzip(bytes)) return bytes;
  try {
    return await gunzipAsync(bytes);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DataFileError(path, `corrupt gzip data (${reason}); expected a complete .gz file`, kind, { cause: error });
  }
}
