import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { version_layers } from '@tensorflow/tfjs-layers';

/** Where a run record came from: enough to tell two records' software and machine apart. */
export interface Provenance {
  readonly pmoeVersion: string;
  /** The commit checked out, when pmoe runs from a git checkout (`+dirty` when tracked files differ from it). */
  readonly gitCommit?: string;
  /** Node's version, e.g. `v20.19.0`. */
  readonly node: string;
  readonly tfjs: { readonly core: string; readonly layers: string };
  /** The TensorFlow.js backend the run used and its package's version where known. */
  readonly backend: { readonly name: string; readonly version?: string };
  readonly host: string;
  /** ISO 8601 times the run started and ended. */
  readonly startedAt: string;
  readonly endedAt: string;
}

const packageRoot = fileURLToPath(new URL('../../../', import.meta.url));

let pmoeVersion: string | undefined;
let gitCommit: string | null | undefined;

function readPmoeVersion(): string {
  pmoeVersion ??= (JSON.parse(readFileSync(`${packageRoot}package.json`, 'utf8')) as { version: string }).version;
  return pmoeVersion;
}

/** The checkout's commit, or null outside a checkout (an installed package has no .git beside it). */
function readGitCommit(): string | null {
  if (gitCommit !== undefined) return gitCommit;
  gitCommit = null;
  if (!existsSync(`${packageRoot}.git`)) return gitCommit;
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: packageRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
    const commit = git('rev-parse', 'HEAD');
    gitCommit = git('status', '--porcelain', '--untracked-files=no') === '' ? commit : `${commit}+dirty`;
  } catch {
    // git missing or not a repository: no commit to record.
  }
  return gitCommit;
}

// The package each backend comes from, and the name of its version export.
const BACKEND_PACKAGES: Record<string, [string, string]> = {
  cpu: ['@tensorflow/tfjs-backend-cpu', 'version_cpu'],
  wasm: ['@tensorflow/tfjs-backend-wasm', 'version_wasm'],
  webgpu: ['@tensorflow/tfjs-backend-webgpu', 'version_webgpu'],
  webgl: ['@tensorflow/tfjs-backend-webgl', 'version_webgl'],
};

async function backendVersion(name: string): Promise<string | undefined> {
  const entry = BACKEND_PACKAGES[name];
  if (!entry) return undefined;
  try {
    const module = (await import(entry[0])) as Record<string, unknown>;
    const version = module[entry[1]];
    return typeof version === 'string' ? version : undefined;
  } catch {
    return undefined;
  }
}

/** The provenance of a run that started at `startedAt` and has just ended on the current backend. */
export async function provenance(startedAt: Date): Promise<Provenance> {
  const name = tf.getBackend();
  const version = await backendVersion(name);
  const commit = readGitCommit();
  return {
    pmoeVersion: readPmoeVersion(),
    ...(commit ? { gitCommit: commit } : {}),
    node: process.version,
    tfjs: { core: tf.version_core, layers: version_layers },
    backend: version ? { name, version } : { name },
    host: hostname(),
    startedAt: startedAt.toISOString(),
    endedAt: new Date().toISOString(),
  };
}
