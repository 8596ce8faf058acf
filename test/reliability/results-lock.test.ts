import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readResults } from '../../src/experiments/results-file.js';
import { lockResults, resolveResultsPath, ResultsLockedError } from '../../src/experiments/results-lock.js';
import { mergeResultsFiles } from '../../src/report/merge-results.js';
import { runSweep } from '../../src/experiments/sweep.js';
import { scalingCommand } from '../../src/cli/scaling.js';
import { smallSweep } from '../support/sweep-driver.js';

const driver = fileURLToPath(new URL('../support/sweep-driver.js', import.meta.url));
const pmoe = fileURLToPath(new URL('../../../bin/pmoe.js', import.meta.url));
const lockModule = new URL('../../src/experiments/results-lock.js', import.meta.url).href;

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 20) {
    if (waited > 30_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A process that takes the lock on `path`, says so on stdout, and waits to be killed. */
function holder(path: string): { child: ChildProcess; locked: Promise<void> } {
  const script = `const { lockResults } = await import(${JSON.stringify(lockModule)}); await lockResults(${JSON.stringify(path)}); process.stdout.write('locked\\n'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const locked = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('locked') && resolve());
    child.on('exit', (code) => reject(new Error(`lock holder exited with ${code} before locking`)));
  });
  return { child, locked };
}

/** Runs `body` in a fresh temporary folder, removed afterwards. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pmoe-lock-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('one sweep per results file', () => {
  it('a second sweep on a file being written is refused at once, naming it; the first ends with every run once', () =>
    inTempDir(async (dir) => {
      const path = join(dir, 'sweep.jsonl');
      const first = spawn(process.execPath, [driver, path, '2'], { stdio: 'ignore' });
      const firstExit = exited(first);
      await until(() => existsSync(`${path}.lock`), 'the first sweep to lock its file');
      await assert.rejects(
        runSweep(smallSweep(), { experiment: 'lock-test', resultsPath: path, jobs: 1, backend: 'wasm' }),
        (error: unknown) =>
          error instanceof ResultsLockedError && error.message.includes(path) && /another pmoe process/.test(error.message) && /--out/.test(error.message),
      );
      assert.equal(await firstExit, 0);
      const { lines } = readResults(path);
      assert.equal(lines.length, smallSweep().length);
      assert.equal(new Set(lines.map((line) => line.key)).size, lines.length, 'no run written twice');
      assert.ok(!existsSync(`${path}.lock`) && !existsSync(`${path}.lock-pid`), 'lock released');
    }));

  it('a live holder in another process blocks; a SIGKILLed one does not, and SIGTERM or SIGINT releases', () =>
    inTempDir(async (dir) => {
      const path = join(dir, 'held.jsonl');
      const killed = holder(path);
      await killed.locked;
      await assert.rejects(
        lockResults(path),
        (error: unknown) => error instanceof ResultsLockedError && error.holder?.pid === killed.child.pid && error.message.includes(`pid ${killed.child.pid}`),
      );
      killed.child.kill('SIGKILL');
      await exited(killed.child);
      assert.ok(existsSync(`${path}.lock`), 'a SIGKILL leaves the lock directory behind');
      // The holder is dead: the lock is taken over at once, not after the stale time.
      const release = await lockResults(path);
      await release();
      assert.ok(!existsSync(`${path}.lock`));

      const terminated = holder(path);
      await terminated.locked;
      await assert.rejects(lockResults(path), ResultsLockedError);
      // The CLI says so in one line, exits 1 and writes nothing.
      const cli = spawn(process.execPath, [pmoe, 'reproduce', 'fig4', '--quick', '--out', path], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      cli.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      assert.equal(await exited(cli), 1);
      assert.match(stderr, /is being written by another pmoe process/);
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
      assert.equal(readFileSync(path, 'utf8'), '', 'nothing written (the holder made the file, empty, to lock its identity)');
      terminated.child.kill('SIGTERM');
      await exited(terminated.child);
      assert.ok(!existsSync(`${path}.lock`) && !existsSync(`${path}.lock-pid`), 'SIGTERM releases the lock on the way out');
      const interrupted = holder(path);
      await interrupted.locked;
      interrupted.child.kill('SIGINT');
      await exited(interrupted.child);
      assert.ok(!existsSync(`${path}.lock`) && !existsSync(`${path}.lock-pid`), 'SIGINT (Ctrl-C) releases it too');
      await (
        await lockResults(path)
      )();
    }));

  it('two names of one file share its lock: a symlink (even to a file not written yet), a path through a linked folder', () =>
    inTempDir(async (dir) => {
      const path = join(dir, 'r.jsonl');
      symlinkSync('r.jsonl', join(dir, 'alias.jsonl')); // dangling until the sweep writes r.jsonl
      mkdirSync(join(dir, 'sub'));
      symlinkSync(dir, join(dir, 'sub', 'up'));
      const viaFolder = join(dir, 'sub', 'up', 'r.jsonl');
      assert.equal(resolveResultsPath(join(dir, 'alias.jsonl')), path);
      assert.equal(resolveResultsPath(viaFolder), path);
      const held = holder(path);
      await held.locked;
      try {
        for (const other of [join(dir, 'alias.jsonl'), viaFolder]) {
          await assert.rejects(
            runSweep(smallSweep().slice(0, 1), { experiment: 'lock-test', resultsPath: other, jobs: 1, backend: 'wasm' }),
            (error: unknown) => error instanceof ResultsLockedError && error.message.includes(other) && error.message.includes(`the file ${path}`),
          );
        }
        assert.equal(readFileSync(path, 'utf8'), '', 'nothing written (the holder made the file, empty, to lock its identity)');
      } finally {
        held.child.kill('SIGTERM');
        await exited(held.child);
      }
    }));

  it('a file that holds every run twice (two sweeps through two names) is counted once by resume and by report, and resume rewrites it once each', () =>
    inTempDir(async (dir) => {
      const path = join(dir, 'r.jsonl');
      const specs = smallSweep().slice(0, 2);
      await runSweep(specs, { experiment: 'lock-test', resultsPath: path, jobs: 1, backend: 'wasm' });
      const once = readFileSync(path, 'utf8');
      writeFileSync(path, once + once);
      symlinkSync('r.jsonl', join(dir, 'alias.jsonl'));
      const merged = await mergeResultsFiles([path, join(dir, 'alias.jsonl')]);
      assert.equal(merged.byExperiment.get('lock-test')?.length, 2);
      assert.equal(merged.inputs.length, 1, 'the file is read once');
      assert.match(merged.warnings.join('\n'), /alias\.jsonl is the same file as .*r\.jsonl: read once/);
      const resumed = await runSweep(specs, { experiment: 'lock-test', resultsPath: join(dir, 'alias.jsonl'), jobs: 1, backend: 'wasm' });
      assert.deepEqual([resumed.ran, resumed.lines.length], [0, 2]);
      assert.equal(readFileSync(path, 'utf8'), once, 'each run once in the file again');
    }));

  it('a dead holder is taken over only when it ran on this machine', () =>
    inTempDir(async (dir) => {
      const path = join(dir, 'shared.jsonl');
      const deadPid = 4_194_305; // above Linux's largest pid_max: no such process
      mkdirSync(`${path}.lock`); // fresh: not stale yet
      writeFileSync(`${path}.lock-pid`, `${deadPid} some-other-host\n`);
      await assert.rejects(
        lockResults(path),
        (error: unknown) => error instanceof ResultsLockedError && error.message.includes(`pid ${deadPid} on some-other-host`),
      );
      writeFileSync(`${path}.lock-pid`, `${deadPid} ${hostname()}\n`);
      const release = await lockResults(path);
      await release();
      assert.deepEqual(readdirSync(dir), []);
    }));

  it('pmoe scaling on a file being written is refused before any run or report; its rounds sweep under its own lock', () =>
    inTempDir(async (dir) => {
      const path = join(dir, 'scaling.jsonl');
      const release = await lockResults(path);
      try {
        const reportDir = join(dir, 'report');
        await assert.rejects(scalingCommand({ quick: true, out: path, reportDir, backend: 'wasm', set: [] }), ResultsLockedError);
        assert.ok(readFileSync(path, 'utf8') === '' && !existsSync(reportDir), 'nothing written');
        // Its rounds run under the lock it holds: a sweep told so does not try to take it again.
        const [spec] = smallSweep();
        const { ran } = await runSweep([spec], { experiment: 'lock-test', resultsPath: path, resultsLocked: true, jobs: 1, backend: 'wasm' });
        assert.equal(ran, 1);
        assert.equal(readResults(path).lines.length, 1);
      } finally {
        await release();
      }
    }));
});
