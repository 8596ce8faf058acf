/**
 * The one place that decides what a path may be when pmoe writes a file there: a regular file, or
 * nothing yet (a new file). A folder, a device (/dev/null, /dev/full), a named pipe or a socket is
 * refused before anything is opened, and so is a file of a kernel interface (/proc, /sys), which
 * a write as root would turn into a setting. Every append (appendToFile) and every atomic
 * replacement (atomic-write.ts) goes through here, whatever command asked for it.
 */
import { closeSync, constants, fstatSync, fsyncSync, openSync, readSync, statfsSync, statSync, writeSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileType, fsProblem } from './fs-problem.js';

/** A path pmoe will not write to as a file; the message names the path and why. */
export class OutputFileError extends Error {
  override name = 'OutputFileError';
  constructor(
    readonly path: string,
    /** Why, in words, without the path. */
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super(`cannot write to '${path}': ${problem}`, options);
  }
}

// statfs(2) magic numbers of file systems whose files are kernel interfaces, not storage.
const KERNEL_FILE_SYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x73636673, 'securityfs'],
  [0x62656570, 'configfs'],
  [0xcafe4a11, 'bpf'],
]);

/** The kernel file system `path` (or, when it does not exist, its nearest existing folder) is on; undefined for storage. */
function kernelFileSystem(path: string): string | undefined {
  if (process.platform !== 'linux') return undefined;
  for (let at = resolve(path); ; at = dirname(at)) {
    try {
      return KERNEL_FILE_SYSTEMS.get(Number(statfsSync(at).type));
    } catch {
      if (dirname(at) === at) return undefined;
    }
  }
}

/** Why `info` (what a path names, links followed) cannot be written as a file; undefined when it can. */
function typeProblem(info: Stats): string | undefined {
  if (info.isDirectory()) return 'it is a folder, not a file (EISDIR)';
  return info.isFile() ? undefined : `it is ${fileType(info)}, not a regular file`;
}

/**
 * Why `path` may not be written as a file, or undefined when it may: it must name a regular
 * file, or nothing yet (a symbolic link is followed; one to a missing file names a new file).
 */
export function outputFileProblem(path: string): string | undefined {
  let info: Stats | undefined;
  try {
    info = statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return fsProblem(error);
  }
  const problem = info && typeProblem(info);
  if (problem) return problem;
  return kernelFileSystemProblem(path);
}

/**
 * Why `path` (a file or a folder, existing or not) is not storage: it is on a kernel interface's
 * file system (/proc, /sys, ...); undefined elsewhere. (Besides what a write there would do, Node's
 * recursive mkdir under /proc never returns.)
 */
export function kernelFileSystemProblem(path: string): string | undefined {
  const kernel = kernelFileSystem(path);
  return kernel ? `it is on the ${kernel} file system, a kernel interface, not storage` : undefined;
}

/** How much of an existing file is read for the mark of its writer: marks are in a file's first lines. */
const HEAD_BYTES = 256 * 1024;

/**
 * Why a command that writes `path` whole may not replace what is there, or undefined: besides
 * outputFileProblem, an existing file must be empty or hold `mark` (what that command always writes
 * in a file's first part, such as a header), so that a file someone else wrote (a README where a
 * report goes, a ~/.bashrc a planted link points to) is never replaced.
 */
export function replaceableFileProblem(path: string, mark: string, writer: string): string | undefined {
  const problem = outputFileProblem(path);
  if (problem) return problem;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined; // not there yet: a new file
  }
  try {
    const head = Buffer.alloc(HEAD_BYTES);
    const length = readSync(fd, head, 0, HEAD_BYTES, 0);
    if (length === 0 || head.subarray(0, length).toString('utf8').includes(mark)) return undefined;
  } finally {
    closeSync(fd);
  }
  return `it exists and was not written by ${writer} (it lacks ${JSON.stringify(mark)}), so it is not replaced: name another path, or remove the file`;
}

/** Throws an OutputFileError when `path` may not be written as a file (outputFileProblem). */
export function checkOutputFile(path: string): void {
  const problem = outputFileProblem(path);
  if (problem) throw new OutputFileError(path, problem);
}

/**
 * Opens `path` for appending, creating it if missing, after outputFileProblem. O_NONBLOCK, so a
 * path swapped for a named pipe since the check cannot hang the open; the opened file is checked
 * again, so nothing is written to anything but a regular file.
 */
export function openForAppend(path: string): number {
  checkOutputFile(path);
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK, 0o666);
  } catch (error) {
    throw new OutputFileError(path, fsProblem(error), { cause: error });
  }
  const problem = typeProblem(fstatSync(fd));
  if (problem) {
    closeSync(fd);
    throw new OutputFileError(path, problem);
  }
  return fd;
}

/** Writes all of `bytes` to `fd` (writeSync may write less than asked: a signal, a quota). */
function writeAll(fd: number, bytes: Uint8Array): void {
  for (let written = 0; written < bytes.length;) written += writeSync(fd, bytes, written, bytes.length - written);
}

/**
 * Appends `text` to `path` (made if missing; checked by openForAppend), and with `sync` waits until
 * it is on the disk. A failed write names the file.
 */
export function appendToFile(path: string, text: string, { sync = false } = {}): void {
  const fd = openForAppend(path);
  try {
    writeAll(fd, Buffer.from(text));
    if (sync) fsyncSync(fd);
  } catch (error) {
    throw new OutputFileError(path, fsProblem(error), { cause: error });
  } finally {
    closeSync(fd);
  }
}
