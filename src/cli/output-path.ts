import { mkdir, open, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { OptionError } from '../util/options.js';

/**
 * Fails before any work when `path` could not be appended to at the end: its folder is made if
 * missing, then the file is opened for appending (and removed again if that created it).
 */
export async function checkWritable(path: string, option: string): Promise<void> {
  try {
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
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : error instanceof Error ? error.message : String(error);
    throw new OptionError(`${option}: cannot write to '${path}': ${reason}`);
  }
}
