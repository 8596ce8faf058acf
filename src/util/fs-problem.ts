import type { Stats } from 'node:fs';

/** A failed file-system call in words a user can act on (the raw code in brackets). */
export function fsProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const words: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EROFS: 'the file system is read-only',
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    EFBIG: 'the file would grow past the largest size this process may write',
    EISDIR: 'it is a folder, not a file',
    ENOTDIR: 'a part of the path is a file, not a folder',
    EEXIST: 'a file of that name is in the way',
    ENOENT: 'a folder on the path does not exist',
    ENXIO: 'it is a named pipe or device with nothing at the other end',
    ELOOP: 'too many levels of symbolic links',
    ENAMETOOLONG: 'a name on the path is longer than the file system allows',
  };
  if (code && words[code]) return `${words[code]} (${code})`;
  // An error that already says what was wrong, apart from the file it names (OutputFileError).
  const problem = (error as { problem?: unknown } | null)?.problem;
  if (typeof problem === 'string') return problem;
  return error instanceof Error ? error.message : String(error);
}

/** What a path names when it is not a regular file, in words. */
export function fileType(info: Stats): string {
  if (info.isFile()) return 'a regular file';
  if (info.isDirectory()) return 'a folder';
  if (info.isCharacterDevice()) return 'a character device such as /dev/zero';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isFIFO()) return 'a named pipe';
  if (info.isSocket()) return 'a socket';
  return 'not a regular file';
}
