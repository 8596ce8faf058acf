/**
 * The folders of src/ form a stack (.dependency-cruiser.cjs): each imports only from those below
 * it, and no modules import each other in a circle. dependency-cruiser checks the real tree, and a
 * small tree with one upward import and one circle shows that the rules do catch them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const config = join(root, '.dependency-cruiser.cjs');
const depcruise = join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

interface Violation {
  readonly from: string;
  readonly to: string;
  readonly rule: { readonly name: string };
}

/** The rule violations dependency-cruiser finds in `cwd`'s src/. */
async function violations(cwd: string): Promise<Violation[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [depcruise, 'src', '--config', config, '--output-type', 'json'], {
    cwd,
    maxBuffer: 64 << 20,
  }).catch((error: { stdout?: string }) => {
    // It exits non-zero when it finds violations; the JSON is on stdout all the same.
    if (error.stdout) return { stdout: error.stdout };
    throw error;
  });
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

describe('the layers of src/', () => {
  const work = mkdtemp(join(tmpdir(), 'pmoe-layers-'));
  after(async () => rm(await work, { recursive: true, force: true }));

  it('import only downward, with no circles', { timeout: 120_000 }, async () => {
    const found = await violations(root);
    assert.deepEqual(
      found.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`),
      [],
    );
  });

  it('are checked: an upward import, a circle and an unknown folder are each reported', { timeout: 120_000 }, async () => {
    const dir = await work;
    const files: Record<string, string> = {
      'src/util/helper.ts': "import { command } from '../cli/command.js';\nexport const helper = () => command;\n",
      'src/cli/command.ts': 'export const command = 1;\n',
      'src/data/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
      'src/data/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
      'src/misc/stray.ts': "import { command } from '../cli/command.js';\nexport const stray = command;\n",
      'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['src'] }),
    };
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), text);
    }
    const found = (await violations(dir)).map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();
    assert.deepEqual(found, [
      'no-circular: src/data/a.ts -> src/data/b.ts',
      'unknown-folder: src/misc/stray.ts -> src/cli/command.ts',
      'util-imports-upward: src/util/helper.ts -> src/cli/command.ts',
    ]);
  });
});
