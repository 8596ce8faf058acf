// Bundles the interactive page's script (src/web/app.ts) for the browser with esbuild: TensorFlow.js
// (core + cpu backend), the model code, the shipped test images and the default model, in one
// file web/dist/app.js, so the page fetches nothing from the internet (and works from file://).
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const web = dirname(fileURLToPath(import.meta.url));
const root = dirname(web);
const json = async (path) => JSON.stringify(JSON.parse(await readFile(join(web, path), 'utf8')));

const result = await build({
  entryPoints: [join(root, 'src/web/app.ts')],
  outfile: join(web, 'dist/app.js'),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2020'],
  minify: true,
  sourcemap: false,
  legalComments: 'linked',
  define: {
    PMOE_SAMPLES: await json('data/samples.json'),
    PMOE_DEFAULT_MODEL: await json('data/pmoe-model.json'),
    'process.env.NODE_ENV': '"production"',
  },
  logLevel: 'warning',
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
// stderr: stdout stays clean for tools that parse it (npm pack --json runs this through prepare).
process.stderr.write(`web/dist/app.js bundled (${(bytes / 1024).toFixed(0)} KiB)\n`);
