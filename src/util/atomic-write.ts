import { readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { fsProblem } from './fs-problem.js';
import { checkOutputFile, OutputFileError } from './output-file.js';

/**
 * Temporaries older than this are from a write that was killed. The age, not the name, keeps
 * another process's live write safe: its temporary is written moments before its rename (and
 * within one process write-file-atomic serialises writes of a file).
 */
const STALE_TEMP_MS = 60_000;

/**
 * write-file-atomic's temporary name for `target`: `<target>.<uint32 hash as decimal>` (its
 * getTmpname). A SIGKILL between its write and its rename leaves one behind, forever.
 */
function isTempOf(name: string, target: string): boolean {
  const suffix = name.slice(target.length + 1);
  return name.startsWith(`${target}.`) && /^(0|[1-9]\d{0,9})$/.test(suffix) && Number(suffix) <= 0xffff_ffff;
}

/** Removes what killed writes of `path` left beside it. */
export function removeStaleTemps(path: string, now = Date.now()): void {
  // write-file-atomic names the temporary after the target's real path (a symlinked file's lives beside the file it points to).
  let real = path;
  try {
    real = realpathSync(path);
  } catch {
    // not there yet: named after `path` itself
  }
  const dir = dirname(real);
  const target = basename(real);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return; // no folder yet: nothing left behind
  }
  for (const name of names) {
    if (!isTempOf(name, target)) continue;
    const temp = join(dir, name);
    try {
      if (now - statSync(temp).mtimeMs > STALE_TEMP_MS) rmSync(temp, { force: true });
    } catch {
      // gone already, or not ours to remove: the write below does not depend on it
    }
  }
}

/**
 * Writes `path` atomically (temporary file, then rename), first clearing temporaries of killed
 * earlier writes. Only a regular file or a new one is written (output-file.ts): the rename would
 * otherwise replace a device node, or whatever a symbolic link points to, with a file. A failure
 * (disk full, read-only) names the file.
 */
export async function writeFileAtomically(path: string, data: string | Buffer): Promise<void> {
  checkOutputFile(path);
  removeStaleTemps(path);
  try {
    await writeFileAtomic(path, data);
  } catch (error) {
    throw new OutputFileError(path, fsProblem(error), { cause: error });
  }
}
