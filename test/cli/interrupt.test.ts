/** Ctrl-C and SIGTERM stop `pmoe train` mid-training: promptly, with 130 or 143, nothing appended. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../../bin/pmoe.js', import.meta.url));
// Generous for a loaded two-core machine; the run itself would take many minutes.
const STOP_WITHIN_MS = 5000;

/** Starts a long `pmoe train`, waits until it reports training progress, sends `signal`. */
function interruptTraining(out: string, signal: NodeJS.Signals, extra: string[] = []): Promise<{ code: number | null; afterSignalMs: number; stderr: string }> {
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
    let sentAt = 0;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (sentAt === 0 && /train joint \(model\): \d+\/100000/.test(stderr)) {
        // Past the first epoch: the run is inside its training loop.
        setTimeout(() => {
          sentAt = performance.now();
          child.kill(signal);
        }, 500);
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, afterSignalMs: sentAt === 0 ? NaN : performance.now() - sentAt, stderr }));
  });
}

describe('pmoe train and signals', { timeout: 180_000 }, () => {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    it(`${signal} mid-training: exits ${code} within seconds, says so, appends nothing`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pmoe-interrupt-'));
      try {
        const out = join(dir, 'runs.jsonl');
        const earlier = `${JSON.stringify({ earlier: 'run' })}\n`;
        writeFileSync(out, earlier);
        const result = await interruptTraining(out, signal, ['--save-model', join(dir, 'model')]);
        assert.equal(result.code, code, result.stderr);
        assert.ok(result.afterSignalMs < STOP_WITHIN_MS, `stopped ${Math.round(result.afterSignalMs)} ms after ${signal}`);
        assert.match(result.stderr, new RegExp(`pmoe train: stopped by ${signal}; nothing appended to .*runs\\.jsonl, no model saved`));
        assert.equal(readFileSync(out, 'utf8'), earlier);
        assert.equal(existsSync(join(dir, 'model')), false);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
