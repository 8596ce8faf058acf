import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { fileType } from './fs-problem.js';

/** One line of a file: its text without the newline, its 1-based number, and whether a newline ended it (only the last may lack one). */
export interface FileLine {
  readonly text: string;
  readonly number: number;
  readonly ended: boolean;
}

const CHUNK_BYTES = 1 << 20;

/**
 * Opens `path` for reading lines: undefined when it does not exist; an Error naming it when it is
 * not a regular file (a device such as /dev/zero would be read until memory ran out, a named pipe
 * would wait for a writer: O_NONBLOCK keeps the open from waiting).
 */
export function openLines(path: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const info = fstatSync(fd);
  if (!info.isFile()) {
    closeSync(fd);
    throw Object.assign(new Error(`${path} is ${fileType(info)}, not a regular file`), { code: info.isDirectory() ? 'EISDIR' : 'ENOTREG' });
  }
  return fd;
}

/**
 * The lines of the open file `fd`, read a megabyte at a time up to the size it had when this
 * began (a file growing meanwhile cannot keep it reading), so a file of any size is read without
 * one string holding it all. Closes `fd` when done or abandoned.
 */
export function* fileLines(fd: number): Generator<FileLine> {
  try {
    const size = fstatSync(fd).size;
    const buffer = Buffer.alloc(CHUNK_BYTES);
    let pending: Buffer[] = [];
    let position = 0;
    let number = 0;
    while (position < size) {
      const read = readSync(fd, buffer, 0, Math.min(CHUNK_BYTES, size - position), position);
      if (read === 0) break;
      position += read;
      let start = 0;
      for (let newline = buffer.indexOf(10, start); newline !== -1 && newline < read; newline = buffer.indexOf(10, start)) {
        const part = buffer.subarray(start, newline);
        const text = pending.length === 0 ? part.toString('utf8') : Buffer.concat([...pending, part]).toString('utf8');
        pending = [];
        yield { text, number: ++number, ended: true };
        start = newline + 1;
      }
      if (start < read) pending.push(Buffer.from(buffer.subarray(start, read)));
    }
    if (pending.length > 0) yield { text: Buffer.concat(pending).toString('utf8'), number: ++number, ended: false };
  } finally {
    closeSync(fd);
  }
}
