/** A data file that is missing, unreadable or not what it claims to be; the message names the file. */
export class DataFileError extends Error {
  override name = 'DataFileError';
  constructor(
    /** The file, as named in the message. */
    readonly file: string,
    /** What is wrong, without the file name. */
    readonly problem: string,
    /** How the file is described in the message: 'IDX file', 'MNIST file'. */
    kind = 'IDX file',
    options?: ErrorOptions,
  ) {
    super(`${kind} ${file}: ${problem}`, options);
  }
}

/** Why a file could not be read, in words. */
export function readProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT') return 'cannot read: no such file';
  if (code === 'EACCES' || code === 'EPERM') return `cannot read: permission denied (${code})`;
  if (code === 'EISDIR') return 'cannot read: it is a directory';
  return `cannot read: ${error instanceof Error ? error.message : String(error)}`;
}
