/**
 * The checks every command makes of the paths it will write, before any work: what a path may be
 * is decided once, in util/output-file.ts (a regular file or a new one), and what an existing file
 * may hold, here: a results file only results, a generated script only what pmoe wrote.
 */
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, open, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { resultsFileProblem } from '../experiments/results-file.js';
import { reportFileProblem } from '../report/report-files.js';
import { fileType, fsProblem } from '../util/fs-problem.js';
import { kernelFileSystemProblem, outputFileProblem, replaceableFileProblem } from '../util/output-file.js';
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
 * Fails before any work when `path` could not be appended to at the end: it must be a regular file
 * or a new one (outputFileProblem); its folder is made if missing, then the file is opened for
 * appending (and removed again if that created it).
 */
export async function checkWritable(path: string, option: string): Promise<void> {
  const fail = (problem: string): never => {
    throw new OptionError(`${option}: cannot write to '${path}': ${problem}`);
  };
  const problem = outputFileProblem(path);
  if (problem) fail(problem);
  try {
    await makeFolders(dirname(path));
    const created = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') return undefined;
      throw error;
    });
    if (created) {
      await created.close();
      await rm(path);
    } else await (await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_NONBLOCK)).close();
  } catch (error) {
    fail(fsProblem(error));
  }
}

/**
 * `checkWritable`, and an existing file must be a results file: a sweep rewrites its file as it
 * resumes, keeping only result lines, so a README or a `pmoe train --out` file would lose the rest.
 */
export async function checkResultsOutput(path: string, option: string): Promise<void> {
  await checkWritable(path, option);
  const problem = resultsFileProblem(path);
  if (problem) {
    throw new OptionError(
      `${option}: '${path}' is not a pmoe results file (${problem}); a sweep rewrites its results file as it resumes, ` +
        'so it writes only to a new file or to one whose every line is a sweep result line: name another file',
    );
  }
}

/** `train --out`: appends a run record, which must not go into a sweep's results file (the sweep and the report would refuse it). */
export async function checkRecordsOutput(path: string, option: string): Promise<void> {
  await checkWritable(path, option);
  const info = await stat(path).catch(() => undefined);
  if (info && info.size > 0 && resultsFileProblem(path) === undefined) {
    throw new OptionError(
      `${option}: '${path}' is a sweep's results file; a pmoe train record there would make it unreadable to pmoe reproduce and pmoe report: name another file`,
    );
  }
}

/**
 * A file that the command replaces whole (a generated script): it must be new, or hold `mark`
 * (the header the command writes), so that a file someone else wrote is never replaced.
 */
export async function checkReplaceable(path: string, option: string, mark: string, writer: string): Promise<void> {
  await checkWritable(path, option);
  const problem = replaceableFileProblem(path, mark, writer);
  if (problem) throw new OptionError(`${option}: '${path}' ${problem.replace(/^it /, '')}`);
}

/** `checkWritableFolder` for a report's folder: each of its `files` new, or one a report wrote (report/report-files.ts). */
export const checkReportFolder = (path: string, option: string, files: readonly string[]) => checkWritableFolder(path, option, files, reportFileProblem);

/**
 * Fails before any work when files could not be written into the folder `path`: it must be a
 * folder, or not exist yet under a folder that can take it; each of `files` (names inside it
 * that the command will write) must be a regular file or not exist yet (`problemOf` decides:
 * by default outputFileProblem). Nothing is created.
 */
export async function checkWritableFolder(
  path: string,
  option: string,
  files: readonly string[] = [],
  problemOf: (file: string) => string | undefined = outputFileProblem,
): Promise<void> {
  const fail = (problem: string): never => {
    throw new OptionError(`${option}: cannot write into the folder '${path}': ${problem}`);
  };
  const kernel = kernelFileSystemProblem(path);
  if (kernel) fail(kernel);
  // The nearest part of the path that exists: the folder itself, or where it would be made.
  let existing = resolve(path);
  for (;;) {
    const info = await stat(existing).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      return fail(fsProblem(error));
    });
    if (info) {
      const what = info.isFile() ? 'a file' : fileType(info);
      if (!info.isDirectory()) fail(existing === resolve(path) ? `it is ${what}, not a folder` : `'${existing}' is ${what}, not a folder`);
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
  for (const name of files) {
    const problem = problemOf(join(path, name));
    if (problem) fail(`'${join(path, name)}': ${problem}`);
  }
}
