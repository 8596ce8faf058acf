import { constants } from 'node:fs';
import { access, mkdir, open, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fsProblem } from '../util/fs-problem.js';
import { OptionError } from '../util/options.js';

/**
 * Fails before any work when `path` could not be appended to at the end: its folder is made if
 * missing, then the file is opened for appending (and removed again if that created it).
 */
export async function checkWritable(path: string, option: string): Promise<void> {
  try {
    const existing = await stat(path).catch(() => undefined);
    if (existing?.isDirectory()) throw Object.assign(new Error('a folder'), { code: 'EISDIR' });
    await mkdir(dirname(path), { recursive: true });
    const created = await open(path, 'wx').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') return undefined;
      throw error;
    });
    if (created) {
      await created.close();
      await rm(path);
    } else await (await open(path, 'a')).close();
  } catch (error) {
    throw new OptionError(`${option}: cannot write to '${path}': ${fsProblem(error)}`);
  }
}

/**
 * Fails before any work when files could not be written into the folder `path`: it must be a
 * folder, or not exist yet under a folder that can take it. Nothing is created.
 */
export async function checkWritableFolder(path: string, option: string): Promise<void> {
  const fail = (problem: string): never => {
    throw new OptionError(`${option}: cannot write into the folder '${path}': ${problem}`);
  };
  // The nearest part of the path that exists: the folder itself, or where it would be made.
  let existing = resolve(path);
  for (;;) {
    const info = await stat(existing).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      return fail(fsProblem(error));
    });
    if (info) {
      if (!info.isDirectory()) fail(existing === resolve(path) ? 'it is a file, not a folder' : `'${existing}' is a file, not a folder`);
      break;
    }
    if (dirname(existing) === existing) break;
    existing = dirname(existing);
  }
  await access(existing, constants.W_OK | constants.X_OK).catch((error: unknown) => fail(fsProblem(error)));
}
