import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomically } from '../../src/util/atomic-write.js';

// write-file-atomic's own temporary-name function, so the test plants exactly what a killed write leaves.
const { _getTmpname: tempNameOf } = createRequire(import.meta.url)('write-file-atomic') as { _getTmpname: (file: string) => string };

test('an atomic write clears what killed earlier writes of the same file left, and nothing else', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pmoe-atomic-'));
  try {
    const target = join(dir, 'fig4.md');
    const killedTemp = tempNameOf(target);
    const liveTemp = tempNameOf(target);
    assert.notEqual(killedTemp, liveTemp);
    writeFileSync(killedTemp, 'half a report');
    const twoMinutesAgo = new Date(Date.now() - 120_000);
    utimesSync(killedTemp, twoMinutesAgo, twoMinutesAgo);
    writeFileSync(liveTemp, 'a write in progress'); // fresh: could belong to a live writer
    // Near misses of the pattern: not write-file-atomic's, so not ours to remove.
    const unrelated = ['fig4.md.bak', 'fig4.md.12a', 'fig4.mdx.123', 'other.md.123', 'fig4.md.0123', 'fig4.md.4294967296', 'fig4.md.1.2'];
    for (const name of unrelated) {
      writeFileSync(join(dir, name), name);
      utimesSync(join(dir, name), twoMinutesAgo, twoMinutesAgo);
    }
    await writeFileAtomically(target, 'the report\n');
    assert.equal(readFileSync(target, 'utf8'), 'the report\n');
    const left = readdirSync(dir).sort();
    assert.ok(!left.includes(killedTemp.slice(dir.length + 1)), "the killed write's temporary is gone");
    assert.ok(left.includes(liveTemp.slice(dir.length + 1)), 'a fresh temporary is left alone');
    for (const name of unrelated) assert.ok(left.includes(name), `${name} untouched`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a symlinked target: the temporaries beside the file it points to are cleared', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pmoe-atomic-'));
  try {
    mkdirSync(join(dir, 'real'));
    const real = join(dir, 'real', 'model.json');
    writeFileSync(real, 'old model');
    const link = join(dir, 'model.json');
    symlinkSync(real, link);
    const killedTemp = tempNameOf(real); // write-file-atomic names it after the real path
    writeFileSync(killedTemp, 'half a model');
    const twoMinutesAgo = new Date(Date.now() - 120_000);
    utimesSync(killedTemp, twoMinutesAgo, twoMinutesAgo);
    await writeFileAtomically(link, 'new model');
    assert.equal(readFileSync(real, 'utf8'), 'new model');
    assert.deepEqual(readdirSync(join(dir, 'real')), ['model.json']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
