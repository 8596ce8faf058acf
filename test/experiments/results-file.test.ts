import assert from 'node:assert/strict';
import fs from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { appendJsonLine } from '../../src/experiments/results-file.js';

it('appendJsonLine writes the whole line when writeSync writes less than asked', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pmoe-append-'));
  const writeSync = fs.writeSync;
  let calls = 0;
  // A writeSync that writes at most 7 bytes per call, as a write interrupted by a signal may.
  (fs as { writeSync: unknown }).writeSync = (fd: number, data: string | NodeJS.ArrayBufferView, offset?: number, length?: number) => {
    calls++;
    const bytes =
      typeof data === 'string'
        ? Buffer.from(data)
        : Buffer.from(data.buffer, data.byteOffset, data.byteLength).subarray(offset ?? 0, (offset ?? 0) + (length ?? data.byteLength));
    return writeSync(fd, bytes.subarray(0, 7));
  };
  syncBuiltinESMExports();
  try {
    const value = { key: 'k', text: 'a line longer than seven bytes' };
    appendJsonLine(join(dir, 'r.jsonl'), value);
    appendJsonLine(join(dir, 'r.jsonl'), value);
    assert.equal(await readFile(join(dir, 'r.jsonl'), 'utf8'), `${JSON.stringify(value)}\n`.repeat(2));
    assert.ok(calls > 2, 'the short writes happened');
  } finally {
    (fs as { writeSync: unknown }).writeSync = writeSync;
    syncBuiltinESMExports();
    await rm(dir, { recursive: true, force: true });
  }
});
