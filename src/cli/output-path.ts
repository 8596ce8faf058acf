import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, open, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fsProblem } from '../util/fs-problem.js';
import { OptionError } from '../util/options.js';

/**
 * Makes the folder `path` and its missing parents one level at a time: Node's recursive mkdir
 * never returns where a level cannot be made but reads as missing (under /proc).
 */
async function makeFolders(path: string): Promise<void> {
  const missing: string[] = [];
  for (let at = resolve(path); !(await stat(at).catch(() => undefined)); at = dirname(at)) {
    missing.push(at);
    if (dirname(at) === at) break;
  }
  for (const folder of missing.reverse()) {
    await mkdir(folder).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
}

/**
 * Fails before any work when `path` could not be appended to at the end: its folder is made if
 * missing, then the file is opened for appending (and removed again if that created it).
 */
export async function checkWritable(path: string, option: string): Promise<void> {
  try {
    const existing = await stat(path).catch(() => undefined);
    if (existing?.isDirectory()) throw Object.assign(new Error('a folder'), { code: 'EISDIR' });
    await makeFolders(dirname(path));
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
 * folder, or not exist yet under a folder that can take it. Nothing is left behind.
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
  // access() grants root everything: a folder made and removed at once shows that one can be made there.
  const probe = await mkdtemp(join(existing, '.pmoe-write-check-')).catch((error: unknown) =>
    fail(`no folder can be made in '${existing}': ${fsProblem(error)}`),
  );
  await rmdir(probe);
}
