/**
 * A new npm project that installs pmoe's packed tarball the way an application does (`npm ci`),
 * offline: its lockfile takes every package's version, URL and integrity from this checkout's
 * package-lock.json, so npm takes the tarballs from its cache, where this checkout's own `npm ci`
 * left them. Nothing is fetched.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, lstatSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [key: string]: unknown;
}

interface Manifest extends LockEntry {
  name: string;
  version: string;
  devDependencies?: Record<string, string>;
}

/** Where Node would find `name` required from the package at `from` (a lockfile path), or undefined. */
function resolveIn(lock: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let at = from;
  for (;;) {
    const candidate = `${at ? `${at}/` : ''}node_modules/${name}`;
    if (lock[candidate]) return candidate;
    if (!at) return undefined;
    const parent = at.lastIndexOf('/node_modules/');
    at = parent < 0 ? '' : at.slice(0, parent);
  }
}

/**
 * Writes `project` (package.json, package-lock.json, the tarball) depending on pmoe's tarball, its
 * required peers and `devDependencies` (names this checkout also has, e.g. @types/node), then runs
 * `npm ci --offline` there. Returns npm's output; throws with it when the install fails.
 */
export async function installConsumer(repo: string, tarball: string, project: string, devDependencies: readonly string[] = []): Promise<string> {
  const repoLock = (JSON.parse(await readFile(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;
  const manifest = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as Manifest;
  const peers = Object.keys(manifest.peerDependencies ?? {}).filter((name) => !manifest.peerDependenciesMeta?.[name]?.optional);
  const wanted = [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.optionalDependencies ?? {}), ...peers, ...devDependencies];
  const entries: Record<string, LockEntry> = {};
  const stack = wanted.map((name) => resolveIn(repoLock, '', name));
  while (stack.length > 0) {
    const key = stack.pop();
    if (key === undefined || entries[key]) continue;
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = repoLock[key];
    const isDev = devDependencies.includes(key.slice('node_modules/'.length));
    entries[key] = isDev ? { ...entry, dev: true } : entry;
    for (const name of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) stack.push(resolveIn(repoLock, key, name));
  }
  await mkdir(project, { recursive: true });
  await copyFile(tarball, join(project, basename(tarball)));
  const pmoeSpec = `file:${basename(tarball)}`;
  const dependencies = { pmoe: pmoeSpec, ...Object.fromEntries(peers.map((name) => [name, manifest.peerDependencies![name]])) };
  const devVersions = Object.fromEntries(devDependencies.map((name) => [name, manifest.devDependencies?.[name] ?? '*']));
  const root = { name: 'consumer', version: '1.0.0', private: true, type: 'module', dependencies, devDependencies: devVersions };
  await writeFile(join(project, 'package.json'), `${JSON.stringify(root, null, 2)}\n`);
  const integrity = `sha512-${createHash('sha512')
    .update(await readFile(tarball))
    .digest('base64')}`;
  const { version, license, bin, engines, peerDependenciesMeta } = manifest;
  const pmoeEntry = {
    version,
    resolved: pmoeSpec,
    integrity,
    license,
    dependencies: manifest.dependencies,
    optionalDependencies: manifest.optionalDependencies,
    peerDependencies: manifest.peerDependencies,
    peerDependenciesMeta,
    bin,
    engines,
  };
  const lock = {
    name: 'consumer',
    version: '1.0.0',
    lockfileVersion: 3,
    requires: true,
    packages: { '': { name: 'consumer', version: '1.0.0', dependencies, devDependencies: devVersions }, 'node_modules/pmoe': pmoeEntry, ...entries },
  };
  await writeFile(join(project, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
  const npm = spawnSync('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: project, encoding: 'utf8', timeout: 300_000 });
  if (npm.status !== 0) {
    throw new Error(
      `npm ci --offline in ${project} failed (exit ${npm.status}); it takes every tarball from npm's cache, which this checkout's npm ci fills:\n${npm.stderr}`,
    );
  }
  return npm.stdout;
}

/** Bytes of the files under `dir` (their sizes, not disk blocks; links not followed), and the folders of `dir` to leave out. */
export function treeBytes(dir: string, skip: (path: string) => boolean = () => false): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (skip(path)) continue;
    const info = lstatSync(path);
    if (info.isDirectory()) total += treeBytes(path, skip);
    else if (info.isFile()) total += info.size;
  }
  return total;
}
