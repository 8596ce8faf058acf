import { closeSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import lockfile from 'proper-lockfile';
import { onExit } from 'signal-exit';
import { parseDecimal } from '../util/decimal.js';
import { openForAppend } from '../util/output-file.js';

/**
 * How old (ms) a lock's heartbeat may get before another process may take it over: the holder
 * refreshes it every half of this, so only a killed holder lets it expire. PMOE_LOCK_STALE_MS
 * shortens it for tests (proper-lockfile's minimum is 2000).
 */
export function lockStaleMs(): number {
  const fromEnv = parseDecimal(process.env.PMOE_LOCK_STALE_MS ?? '');
  return fromEnv !== undefined && fromEnv >= 2000 ? fromEnv : 10_000;
}

/**
 * The file that `path` names once every symbolic link is followed, the last one even when it points
 * to a file not written yet: two names of one file (a symlink, `dir/../r.jsonl`) give one path, so
 * they share one lock. The folders must exist (a missing one is kept as written).
 */
export function resolveResultsPath(path: string): string {
  let at = resolve(path);
  for (let hops = 0; hops < 40; hops++) {
    let folder: string;
    try {
      folder = realpathSync(dirname(at));
    } catch {
      return at;
    }
    at = join(folder, basename(at));
    let target: string;
    try {
      target = readlinkSync(at);
    } catch {
      return at; // not a link (EINVAL) or not there yet (ENOENT)
    }
    at = resolve(folder, target);
  }
  throw new Error(`${path}: too many levels of symbolic links`);
}

export class ResultsLockedError extends Error {
  constructor(
    readonly resultsPath: string,
    readonly holder?: { readonly pid: number; readonly host: string },
    /** The file resultsPath names (resolveResultsPath), whose lock is held. */
    readonly realPath: string = resolveResultsPath(resultsPath),
    /** Held under another name of the same file: a hard link. */
    readonly otherName = false,
  ) {
    const seconds = Math.round(lockStaleMs() / 1000);
    const by = holder ? `, pid ${holder.pid}${holder.host === hostname() ? '' : ` on ${holder.host}`}` : '';
    const file = realPath === resolve(resultsPath) ? resultsPath : `${resultsPath} (the file ${realPath})`;
    const lock = otherName ? 'under another name of the same file, a hard link' : `lock ${realPath}.lock`;
    super(
      `${file} is being written by another pmoe process (${lock}${by}): wait for it to finish, or write ` +
        `elsewhere with --out. If that process was killed on another machine sharing this folder, its lock expires ${seconds} s after it stopped.`,
    );
    this.name = 'ResultsLockedError';
  }
}

/** Whether `pid` is a live process on this machine (a recycled pid reads as alive: the lock then waits for its stale time). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Where the identity lock of a file is: one folder per user on this machine, one entry per device,
 * inode and birth time (where the file system keeps one; 0 elsewhere), so that every name of a
 * file (a hard link in any folder) finds the same lock, and a new file that reuses the inode of a
 * deleted one does not.
 */
export function identityLockPath(path: string): string {
  const { dev, ino, birthtimeNs } = statSync(path, { bigint: true });
  return join(tmpdir(), `pmoe-locks-${process.getuid?.() ?? 'user'}`, `${dev}-${ino}-${birthtimeNs}`);
}

/**
 * Holds an exclusive lock on a results file so that two sweeps never append the same runs to one
 * file. Two locks, each a `<name>.lock` directory kept fresh while held: one beside the real file
 * (resolveResultsPath), which other machines sharing the folder see, and one keyed by the file's
 * identity (identityLockPath), which every name of the file on this machine finds, hard links
 * included. (A missing file is created, empty, so that it has an identity, and removed on release
 * if it is still empty.) Each holder's pid and host go in `<name>.lock-pid` (not inside the lock
 * directory: a new entry there would change the mtime that proper-lockfile checks), so that a
 * sweep resumed right after its predecessor was killed takes over at once instead of waiting for
 * the heartbeat to go stale. Returns the release function; both also go when the process exits or
 * is interrupted (SIGINT, SIGTERM); a SIGKILL leaves them to the next holder.
 */
export async function lockResults(resultsPath: string): Promise<() => Promise<void>> {
  const real = resolveResultsPath(resultsPath);
  const releaseName = await lockOne(real, resultsPath, real);
  // Made here only to have an identity; removed again on release if nothing was written to it.
  let created = false;
  const removeIfCreatedEmpty = () => {
    const info = created ? statSync(real, { throwIfNoEntry: false }) : undefined;
    if (info?.isFile() && info.size === 0) rmSync(real, { force: true });
  };
  let releaseIdentity: () => Promise<void>;
  try {
    created = !existsSync(real);
    closeSync(openForAppend(real));
    const identity = identityLockPath(real);
    ownLockFolder(dirname(identity));
    releaseIdentity = await lockOne(identity, resultsPath, real);
  } catch (error) {
    removeIfCreatedEmpty();
    await releaseName();
    // Held under another name of the same file (a hard link): say so.
    if (error instanceof ResultsLockedError) throw new ResultsLockedError(resultsPath, error.holder, real, true);
    throw error;
  }
  return async () => {
    await releaseIdentity();
    removeIfCreatedEmpty();
    await releaseName();
  };
}

/**
 * Makes the identity locks' folder, and checks it is this user's own: in a shared /tmp another user
 * could have made it first, with links in it that the pid file would be written through.
 */
function ownLockFolder(folder: string): void {
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const info = lstatSync(folder);
  const uid = process.getuid?.();
  if (!info.isDirectory() || (uid !== undefined && info.uid !== uid) || (info.mode & 0o022) !== 0) {
    throw new Error(
      `the lock folder ${folder} is not this user's own (${info.isDirectory() ? `owner ${info.uid}, mode ${(info.mode & 0o777).toString(8)}` : 'not a folder'}): remove it, or set TMPDIR to a folder of your own`,
    );
  }
}

/** Takes the lock `<target>.lock` for the results file `resultsPath` (whose real file is `real`), taking it over from a dead holder. */
async function lockOne(target: string, resultsPath: string, real: string): Promise<() => Promise<void>> {
  const pidFile = `${target}.lock-pid`;
  const attempt = () =>
    lockfile.lock(target, {
      realpath: false,
      stale: lockStaleMs(),
      retries: 0,
      // A lock taken over by another process (this one stalled past the stale time): stop rather than write beside it.
      onCompromised: (error) => {
        process.stderr.write(`pmoe: lost the lock on ${resultsPath} (${error.message}); stopping so that no run is written twice\n`);
        process.exit(1);
      },
    });
  let release: () => Promise<void>;
  try {
    release = await attempt();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
    const [pidText, host] = readOrEmpty(pidFile).trim().split(/\s+/);
    const holder = Number(pidText);
    // A pid means nothing on another machine sharing the folder: there only the stale time frees the lock.
    const dead = host === hostname() && Number.isInteger(holder) && holder > 0 && holder !== process.pid && !alive(holder);
    if (!dead) throw new ResultsLockedError(resultsPath, pidText && host ? { pid: holder, host } : undefined, real);
    // The holder is gone (killed): its lock is ours to clear. A second resumer racing here usually loses at the
    // mkdir; if it clears the lock just after we took it, our heartbeat notices and onCompromised stops us.
    rmSync(`${target}.lock`, { recursive: true, force: true });
    try {
      release = await attempt();
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code === 'ELOCKED') throw new ResultsLockedError(resultsPath, undefined, real);
      throw again;
    }
  }
  const mine = `${process.pid} ${hostname()}\n`;
  writeFileSync(pidFile, mine);
  // Only while it is ours: a process that took the lock over (onCompromised) wrote its own.
  const removePidFile = (): void => {
    if (readOrEmpty(pidFile) === mine) rmSync(pidFile, { force: true });
  };
  // proper-lockfile removes the lock directory on exit and on SIGINT/SIGTERM; the pid file goes with it.
  const forget = onExit(removePidFile);
  return async () => {
    forget();
    removePidFile();
    await release();
  };
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
