import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { threadsSetting } from '../../src/engine/gemm-threads.js';

describe('PMOE_THREADS', () => {
  it('takes positive integers and refuses anything else, naming the variable and the value', () => {
    assert.equal(threadsSetting('1'), 1);
    assert.equal(threadsSetting('2'), 2);
    for (const bad of ['0', '-1', '1.5', 'two', ' ']) {
      assert.throws(() => threadsSetting(bad), (error: Error) => error instanceof RangeError && /PMOE_THREADS must be a positive integer/.test(error.message) && error.message.includes(JSON.stringify(bad)));
    }
  });

  it('a process with a bad value stops at its first product with that message', () => {
    const script = `import('${new URL('../../src/engine/gemm-threads.js', import.meta.url).href}').then((m) => m.gemmThreads())`;
    const result = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, PMOE_THREADS: 'lots' }, encoding: 'utf8' });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /PMOE_THREADS must be a positive integer .*got "lots"/);
  });
});
