/**
 * Ctrl-C and SIGTERM stop `pmoe train` mid-training, with 130 or 143, nothing appended. The run would take
 * hours: that it exits at all within the test's timeout shows the signal stopped it (no time is asserted).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../../bin/pmoe.js', import.meta.url));

/** Starts a long `pmoe train`, waits until it reports training progress, sends `signal`. */
function interruptTraining(out: string, signal: NodeJS.Signals, extra: string[] = []): Promise<{ code: number | null; signalled: boolean; stderr: string }> {
  const args = [
    'train',
    '--model',
    'joint',
    '--train-size',
    '400',
    '--test-size',
    '400',
    '--d',
    '32',
    '--n',
    '16',
    '--epochs',
    '100000',
    '--out',
    out,
    ...extra,
  ];
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let stderr = '';
    let signalled = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!signalled && /train joint \(model\): \d+\/100000/.test(stderr)) {
        // Past the first epoch: the run is inside its training loop.
        signalled = true;
        setTimeout(() => child.kill(signal), 500);
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, signalled, stderr }));
  });
}

describe('pmoe train and signals', { timeout: 180_000 }, () => {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    it(`${signal} mid-training: exits ${code}, says so, appends nothing`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pmoe-interrupt-'));
      try {
        const out = join(dir, 'runs.jsonl');
        const earlier = `${JSON.stringify({ earlier: 'run' })}\n`;
        writeFileSync(out, earlier);
        const result = await interruptTraining(out, signal, ['--save-model', join(dir, 'model')]);
        assert.equal(result.code, code, result.stderr);
        assert.ok(result.signalled, 'training progress was seen before the signal');
        assert.match(result.stderr, new RegExp(`pmoe train: stopped by ${signal}; nothing appended to .*runs\\.jsonl, no model saved`));
        assert.equal(readFileSync(out, 'utf8'), earlier);
        assert.equal(existsSync(join(dir, 'model')), false);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
