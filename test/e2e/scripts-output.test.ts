/** What the npm scripts' helpers print and write: JSON-only stdout stays parseable, tracked files stay put. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { REPO } from '../support/pmoe-cli.js';

const run = promisify(execFile);

describe('npm script helpers', () => {
  it('the web build logs to stderr only (npm run -s bench -- --json and npm pack --json print its output)', { timeout: 120_000 }, async () => {
    // A copy of web/ beside links to src/, dist/ (the digit pool's maker) and node_modules/, so the bundle it writes lands outside the repository.
    const root = mkdtempSync(join(tmpdir(), 'pmoe-web-build-'));
    try {
      mkdirSync(join(root, 'web'));
      cpSync(join(REPO, 'web', 'build.mjs'), join(root, 'web', 'build.mjs'));
      cpSync(join(REPO, 'web', 'data'), join(root, 'web', 'data'), { recursive: true });
      symlinkSync(join(REPO, 'src'), join(root, 'src'));
      symlinkSync(join(REPO, 'dist'), join(root, 'dist'));
      symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'));
      const { stdout, stderr } = await run(process.execPath, [join(root, 'web', 'build.mjs')], { cwd: root });
      assert.equal(stdout, '');
      assert.match(stderr, /web\/dist\/app\.js bundled \(\d+ KiB/);
      assert.ok(statSync(join(root, 'web', 'dist', 'app.js')).size > 0);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('the screenshot script, which node --test also runs, leaves docs/ alone unless asked to write', { timeout: 300_000 }, async () => {
    const shots = ['report-page.png', 'interactive-page.png'].map((name) => join(REPO, 'docs', name));
    const before = shots.map((file) => statSync(file).mtimeMs);
    const script = fileURLToPath(new URL('./screenshots.js', import.meta.url));
    const { stderr } = await run(process.execPath, [script], { cwd: REPO });
    assert.match(stderr, /nothing written; npm run screenshots/);
    assert.deepEqual(
      shots.map((file) => statSync(file).mtimeMs),
      before,
    );
  });
});
