import { constants as bufferConstants } from 'node:buffer';
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { fileType } from '../util/fs-problem.js';
import { DataFileError, readProblem } from './data-file-error.js';

export interface DataFileLimits {
  /** The size the file must have, in bytes, or a check of its size returning what is wrong (undefined when fine). */
  readonly size?: number | ((bytes: number) => string | undefined);
  /** The largest file accepted, where the exact size is not known in advance. */
  readonly maxBytes?: number;
  /** Why the file could not be read, in words (default: readProblem of idx.ts). */
  readonly readProblem?: (error: unknown) => string;
}

/**
 * Reads a data file whole, after checking that it is a regular file of an acceptable size: a link
 * to a device (/dev/zero), a named pipe or a file that grows while read would otherwise be read
 * until memory runs out. Exactly the size seen before reading is read. Every problem is a
 * DataFileError naming the file.
 */
export async function readDataFile(file: string, kind: string, limits: DataFileLimits = {}): Promise<Buffer> {
  const fail = (problem: string, cause?: unknown): never => {
    throw new DataFileError(file, problem, kind, cause === undefined ? undefined : { cause });
  };
  const problemOf = limits.readProblem ?? readProblem;
  const info = await stat(file).catch((error: unknown) => fail(problemOf(error), error));
  if (!info.isFile()) fail(`is ${fileType(info)}, not a regular file`);
  const { size, maxBytes } = limits;
  const sizeProblem =
    typeof size === 'function'
      ? size(info.size)
      : size !== undefined && info.size !== size
        ? `holds ${info.size} bytes but must hold exactly ${size}`
        : undefined;
  if (sizeProblem) fail(sizeProblem);
  if (maxBytes !== undefined && info.size > maxBytes) fail(`holds ${info.size} bytes, more than the ${maxBytes} a ${kind} may have`);
  // Read here, not at load: the page's bundle imports this module with node:buffer stubbed out.
  const maxLength = bufferConstants.MAX_LENGTH;
  if (info.size > maxLength) fail(`holds ${info.size} bytes, more than one read can hold (${maxLength})`);
  // O_NONBLOCK: should the path have been swapped for a named pipe since the stat, open does not wait for a writer.
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK).catch((error: unknown) => fail(problemOf(error), error));
  try {
    const opened = await handle.stat();
    if (!opened.isFile() || opened.ino !== info.ino || opened.dev !== info.dev) fail('was replaced while being opened');
    const bytes = Buffer.alloc(info.size);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) fail(`shrank while being read (${filled} of ${info.size} bytes)`);
      filled += bytesRead;
    }
    if ((await handle.read(Buffer.alloc(1), 0, 1, filled)).bytesRead !== 0) fail(`grew while being read (past ${info.size} bytes)`);
    return bytes;
  } finally {
    await handle.close();
  }
}
