/**
 * Fault injection: bad command lines, damaged data files, writers and sweeps killed with SIGKILL
 * at random moments, a diverging run, and one part per class of hostile input (docs/reliability.md
 * lists them): data loss, injection into generated scripts, special files as outputs, paths read
 * from data files, locks, resume and report agreeing, limits, messages, signals. Where a class
 * applies to every command of a kind, its cases come from the commands pmoe has
 * (support/hostile-cases.ts), so a new command inherits them. Ends with one line (a test
 * diagnostic, so it shows in `npm test`): `fault-injection: B bad inputs tried, K kills survived,
 * R failures retried, L records lost; by class: data loss N, ... (PMOE_TEST_SEED=S)`.
 * Random choices (kill delays, cut lengths, garbage bytes) replay with PMOE_TEST_SEED.
 *
 *   node --test dist/test/reliability/
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { appendFile, link, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { InvalidArgumentError, type Command } from 'commander';
import writeFileAtomic from 'write-file-atomic';
import * as tf from '@tensorflow/tfjs-core';
import { checkEnvironment } from '../../src/cli/environment.js';
import { pmoeProgram } from '../../src/cli/main.js';
import { mergeCommand } from '../../src/cli/merge.js';
import { statusCommand } from '../../src/cli/status.js';
import { slurmScript } from '../../src/cluster/slurm-script.js';
import { loadCelebaImages, loadCelebaIndex } from '../../src/data/celeba.js';
import { loadCifar10 } from '../../src/data/cifar10.js';
import { DataFileError } from '../../src/data/data-file-error.js';
import { initEngine } from '../../src/engine/backend.js';
import { fileLoadHandler } from '../../src/io/model-files.js';
import { appendResult, readResults, refusedLinesPath, repairResults, type ResultLine } from '../../src/experiments/results-file.js';
import { lockResults, ResultsLockedError } from '../../src/experiments/results-lock.js';
import { runKey } from '../../src/experiments/shard.js';
import { maxJobs, runSweep } from '../../src/experiments/sweep.js';
import { ArenaLimitError } from '../../src/kernels/simd-arena.js';
import { markdownToHtml, markdownToHtmlInTurns } from '../../src/report/html/markdown-html.js';
import { OptionError } from '../../src/util/options.js';
import { loadResultsFile, readResultsForReport } from '../../src/report/load-results.js';
import { mergeResultsFiles } from '../../src/report/merge-results.js';
import { buildTrainer } from '../../src/training/fused.js';
import { outsideFolderProblem } from '../../src/util/inside-folder.js';
import { outputFileProblem } from '../../src/util/output-file.js';
import { shellWord } from '../../src/util/shell-word.js';
import { createRng } from '../../src/util/random.js';
import { TwoLayerCnn } from '../../src/models/two-layer-cnn.js';
import { evaluate } from '../../src/training/evaluate.js';
import { checkFiniteWeights, DivergenceError } from '../../src/training/sgd.js';
import { writeFileAtomically } from '../../src/util/atomic-write.js';
import { attributeText, bandedJpeg, partitionText, writeCelebaFixture } from '../support/celeba-fixture.js';
import { cliCases } from '../support/cli-cases.js';
import {
  makeFifo,
  makeSocket,
  NOT_RESULTS_FILES,
  PATH_OPTIONS,
  pmoeCommands,
  takesNumber,
  takesPath,
  takesText,
  writeFileCommand,
  writeFolderCommand,
} from '../support/hostile-cases.js';
import { okLine } from '../support/report-fixtures.js';
import { dataFaults, expectedPath, FORMATS } from '../support/data-faults.js';
import { RELIABILITY_SWEEP } from '../support/sweep-child.js';
import { fileVersion, resultLine, versionOf } from '../support/write-versions.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const seed = process.env.PMOE_TEST_SEED ?? String(Date.now() % 1_000_000_007);
const rng = createRng(`fault-injection:${seed}`);
const tally = { badInputs: 0, kills: 0, failuresRetried: 0, recordsLost: 0 };
/** Hostile cases tried per class (issue 31's classes, in its order). */
const byClass = {
  'data loss': 0,
  injection: 0,
  'special files': 0,
  'data-file paths': 0,
  locks: 0,
  'resume and report': 0,
  limits: 0,
  messages: 0,
  signals: 0,
};
type HostileClass = keyof typeof byClass;
const counted = (hostile: HostileClass, cases = 1) => {
  byClass[hostile] += cases;
  tally.badInputs += cases;
};

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'fault-injection-'));
});
after(() => rm(work, { recursive: true, force: true }));

function pmoe(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/pmoe.js', ...args], { cwd: root, env: { ...process.env, ...env }, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

const STACK_LINE = /^\s+at /m;

/** Polls `done` every 20 ms; fails after `seconds`, so a stuck child cannot hang the suite. */
async function until(done: () => boolean, what: string, seconds = 120): Promise<void> {
  const deadline = Date.now() + 1000 * seconds;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`gave up after ${seconds} s waiting for ${what}`);
    await delay(20);
  }
}

describe('bad command lines fail before any work, naming the option, the value and what is allowed', { concurrency: 2 }, () => {
  const results = () => join(work, 'one-run.jsonl');
  before(async () => {
    const line: ResultLine = { key: 'k', experiment: 'cli-cases', status: 'failed', spec: { data: { source: 'synthetic', trainSize: 20 } }, error: 'diverged' };
    await writeFile(results(), `${JSON.stringify(line)}\n`);
  });
  // The table needs the folders' names; they are made per case.
  const table = cliCases('<out>', '<results>');
  table.forEach((template, index) => {
    it(`pmoe ${template.args.join(' ')}${
      template.env
        ? ` (${Object.entries(template.env)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')})`
        : ''
    }`, async () => {
      const out = join(work, `cli-${index}`);
      await mkdir(out);
      const testCase = cliCases(out, results())[index];
      const { code, stdout, stderr } = await pmoe(testCase.args, testCase.env);
      tally.badInputs++;
      assert.notEqual(code, 0, `exit code 0; stdout: ${stdout}`);
      for (const text of testCase.expect) assert.ok(stderr.includes(text), `stderr lacks ${JSON.stringify(text)}:\n${stderr}`);
      assert.doesNotMatch(stderr + stdout, STACK_LINE, 'a stack trace was printed');
      assert.deepEqual(await readdir(out), [], 'files were written');
    });
  });
});

describe('damaged data files: a DataFileError naming the file and the problem, or the intact data', () => {
  const intact = new Map<string, unknown>();
  before(async () => {
    for (const format of FORMATS) {
      const dir = await format.write();
      intact.set(format.name, await format.load(dir));
      await rm(dir, { recursive: true });
    }
  });
  for (const fault of dataFaults()) {
    it(`${fault.format.name}: ${fault.file} ${fault.what}`, async () => {
      const dir = await fault.make(rng);
      try {
        tally.badInputs++;
        const outcome = await fault.format.load(dir).then(
          (value) => ({ value }),
          (error: unknown) => ({ error }),
        );
        if ('value' in outcome) {
          assert.deepEqual(outcome.value, intact.get(fault.format.name), 'loaded without an error, but not the intact data');
          return;
        }
        const { error } = outcome;
        assert.ok(error instanceof DataFileError, `expected a DataFileError, got ${String(error)}`);
        assert.ok(error.message.includes(expectedPath(dir, fault.file)), `the message does not name ${fault.file}: ${error.message}`);
        assert.ok(error.problem.length > 10, `no problem stated: ${error.message}`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});

/** Starts the writer child, lets it finish at least one write, kills it after a random delay; returns the last version it reported done. */
async function killWriter(mode: 'atomic' | 'append', path: string, first: number): Promise<number> {
  const child = spawn(process.execPath, [here('../support/writer-child.js'), mode, path, String(first)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let printed = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (printed += text));
  const closed = once(child, 'close');
  try {
    await until(() => printed.includes('\n') || child.exitCode !== null, 'the first write', 30);
    assert.equal(child.exitCode, null, 'the writer ended by itself');
    await delay(rng.int(60));
  } finally {
    child.kill('SIGKILL');
    await closed;
  }
  const done = printed.trim().split('\n').map(Number);
  return done[done.length - 1];
}

describe('writers killed with SIGKILL at random moments', () => {
  it('a file rewritten by write-file-atomic holds the old or the new version, complete', async () => {
    const path = join(work, 'atomic', 'model.json');
    await mkdir(join(work, 'atomic'));
    await writeFileAtomic(path, fileVersion(0));
    let onDisk = 0;
    for (let kill = 0; kill < 12; kill++) {
      const lastDone = await killWriter('atomic', path, onDisk + 1);
      const version = versionOf(await readFile(path, 'utf8'));
      assert.ok(version !== null, `kill ${kill + 1}: the file is torn`);
      assert.ok(version === lastDone || version === lastDone + 1, `kill ${kill + 1}: version ${version} on disk, ${lastDone} was the last finished`);
      onDisk = version;
      tally.kills++;
    }
    // Kills between a temporary's write and its rename leave it behind; the next write of the file clears it once old.
    const dir = join(work, 'atomic');
    const temps = (await readdir(dir)).filter((name) => name !== 'model.json');
    const longAgo = new Date(Date.now() - 120_000);
    for (const name of temps) await utimes(join(dir, name), longAgo, longAgo);
    await writeFileAtomically(path, fileVersion(onDisk + 1));
    assert.deepEqual(await readdir(dir), ['model.json'], `${temps.length} temporaries left by the kills`);
    assert.equal(versionOf(await readFile(path, 'utf8')), onDisk + 1);
  });

  it('a results file appended by appendResult keeps every finished line; a torn tail is repaired', async () => {
    let path = join(work, 'appended-0.jsonl');
    let lines = 0;
    let tornTails = 0;
    for (let kill = 0; kill < 24; kill++) {
      // A fresh file every 12 kills: a file grown by hundreds of kills made each round slow (minutes in all).
      if (kill > 0 && kill % 12 === 0) {
        path = join(work, `appended-${kill / 12}.jsonl`);
        lines = 0;
      }
      const lastDone = await killWriter('append', path, lines);
      const text = await readFile(path, 'utf8');
      const content = readResults(path);
      const found = content.lines.length;
      tally.recordsLost += Math.max(0, lastDone + 1 - found);
      assert.ok(found >= lastDone + 1, `kill ${kill + 1}: ${found} lines, but line ${lastDone} had been written`);
      assert.ok(found <= lastDone + 2, `kill ${kill + 1}: ${found} lines, more than were written`);
      content.lines.forEach((line, k) => assert.deepEqual(line, resultLine(k), `kill ${kill + 1}: line ${k}`));
      assert.ok(content.tornLines === 0 || (content.tornLines === 1 && !text.endsWith('\n')), `kill ${kill + 1}: a torn line that is not the last`);
      tornTails += content.tornLines;
      await repairResults(path, content);
      assert.deepEqual(readResults(path), { lines: content.lines, tornLines: 0, supersededLines: 0, refusedLines: [] }, `kill ${kill + 1}: repair`);
      lines = found;
      tally.kills++;
    }
    // Whether a kill lands inside a write (a large line's write spans many pages) is up to the scheduler:
    // the tail such a kill leaves, a line cut short, is also made here, so the repair always runs on one.
    const whole = `${JSON.stringify(resultLine(lines))}\n`;
    await appendFile(path, whole.slice(0, 1 + rng.int(whole.length - 2)));
    const torn = readResults(path);
    assert.equal(torn.tornLines, 1, `a line cut short (${tornTails} torn by the kills)`);
    await repairResults(path, torn);
    assert.deepEqual(readResults(path), { lines: torn.lines, tornLines: 0, supersededLines: 0, refusedLines: [] }, 'repair of a line cut short');
    // The resumed writer appends after a repaired file: one more line, read back whole.
    appendResult(path, resultLine(lines));
    assert.equal(readResults(path).lines.length, lines + 1, `after ${tornTails} torn tails repaired`);
  });
});

/**
 * Runs the sweep child on `path`. With `kill`, once the sweep has started its workers it waits
 * `delayMs`, then SIGKILLs the sweep ('sweep') or one of its workers ('worker', the sweep then runs
 * on). Resolves whether the kill struck while the sweep still ran; without one it must exit 0.
 */
async function sweepProcess(path: string, kill?: { target: 'sweep' | 'worker'; delayMs: number }): Promise<boolean> {
  const child = spawn(process.execPath, [here('../support/sweep-child.js'), path], { stdio: ['ignore', 'pipe', 'inherit'] });
  let printed = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (printed += text));
  const exited = once(child, 'exit');
  let struck = false;
  try {
    if (kill) {
      await until(() => child.exitCode !== null || printed.includes('started'), `the sweep on ${path} to start`);
      await delay(kill.delayMs);
      if (kill.target === 'sweep') struck = child.exitCode === null && child.kill('SIGKILL');
      else {
        const [worker] = await childrenOf(child.pid!);
        if (worker !== undefined && child.exitCode === null) {
          try {
            process.kill(worker, 'SIGKILL');
            struck = true;
          } catch (error) {
            // The worker exited between the listing and the kill (its sweep was finishing): not a kill.
            if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
          }
        }
      }
    }
    if (!struck || kill?.target === 'worker') await until(() => child.exitCode !== null, 'the sweep to finish', 300);
  } finally {
    if (child.exitCode === null && !struck) child.kill('SIGKILL');
  }
  const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  if (!struck || kill?.target === 'worker') assert.equal(code, 0, `the sweep ended with ${signal ?? `exit code ${code}`}`);
  return struck;
}

/** A line as JSON without what no two runs share (wall time, provenance), and without the failed attempts before it. */
const comparable = (line: ResultLine) => {
  const { failedAttempts: _attempts, ...rest } = line;
  return JSON.stringify(rest.status === 'ok' ? { ...rest, record: { ...rest.record, wallTimeMs: undefined, provenance: undefined } } : rest);
};

/** The least number of sweeps killed mid-run per test run, and of workers killed (their runs fail, then are retried). */
const SWEEP_KILLS = 10;
const WORKER_KILLS = 2;

describe('a sweep killed mid-way and resumed', () => {
  const whole = () => join(work, 'sweep-whole.jsonl');
  const killed = (round: number) => join(work, `sweep-killed-${round}.jsonl`);
  const expected = RELIABILITY_SWEEP.map(runKey);
  let rounds = 0;

  /** A finished file: every run exactly once, byte-identical (but wall time) to the uninterrupted sweep. */
  function checkFinished(path: string): void {
    const reference = new Map(readResults(whole()).lines.map((line) => [line.key, comparable(line)]));
    const resumed = readResults(path);
    assert.equal(resumed.tornLines, 0);
    assert.equal(resumed.supersededLines, 0, 'a retried run left its failed line');
    const keys = resumed.lines.map((line) => line.key);
    assert.equal(new Set(keys).size, keys.length, 'a run appears twice');
    tally.recordsLost += expected.filter((key) => !keys.includes(key)).length;
    assert.deepEqual([...keys].sort(), [...expected].sort());
    for (const line of resumed.lines) assert.equal(comparable(line), reference.get(line.key), `run ${line.key}`);
  }

  it(`ends with every run exactly once, byte-identical (but wall time) to an uninterrupted sweep, after at least ${SWEEP_KILLS} sweeps and ${WORKER_KILLS} workers killed mid-run`, async () => {
    await sweepProcess(whole());
    let sweepKills = 0;
    let workerKills = 0;
    while (sweepKills < SWEEP_KILLS || workerKills < WORKER_KILLS) {
      const path = killed(rounds);
      const target = sweepKills >= SWEEP_KILLS || (workerKills < WORKER_KILLS && rng.int(4) === 0) ? 'worker' : 'sweep';
      const struck = await sweepProcess(path, { target, delayMs: rng.int(2500) });
      const content = readResults(path);
      assert.ok(content.tornLines <= 1, `${content.tornLines} torn lines`);
      assert.equal(new Set(content.lines.map((line) => line.key)).size, content.lines.length, 'a run twice');
      // A kill that lands after the last run, while the sweep exits, is not one mid-run: not counted, and the file is finished.
      if (struck && target === 'sweep' && content.lines.length < expected.length) {
        sweepKills++;
        tally.kills++;
        // Unfinished, it still held its lock: the next run must take the lock over from a dead holder.
        assert.ok(existsSync(`${path}.lock`), `kill ${sweepKills}: no lock left behind`);
        continue;
      }
      if (struck && target === 'worker') {
        // The run the worker held failed as killed; the next sweep retries it.
        const killedRuns = content.lines.filter((line) => line.status === 'failed' && line.cause === 'killed');
        assert.ok(killedRuns.length <= 1, `${killedRuns.length} runs failed for one worker killed`);
        // A worker killed after its last run (its lane done) failed nothing: not counted.
        workerKills += killedRuns.length;
        tally.kills += killedRuns.length;
        await sweepProcess(path);
        const retried = readResults(path).lines.filter((line) => line.failedAttempts?.some((attempt) => attempt.cause === 'killed'));
        assert.equal(retried.length, killedRuns.length, 'the killed run was not retried');
        tally.failuresRetried += retried.length;
      }
      // Finished (by itself, or run to the end after its worker was killed): check it, and go on with a fresh file.
      if (readResults(path).lines.length < expected.length) await sweepProcess(path);
      checkFinished(path);
      rounds++;
    }
    await sweepProcess(killed(rounds));
    checkFinished(killed(rounds));
  });

  it('the diverging run is a failed line with a hint, kept on resume; the others finished, and pmoe report shows the failure', async () => {
    const path = killed(rounds);
    const lines = readResults(path).lines;
    const failed = lines.filter((line) => line.status === 'failed');
    assert.equal(failed.length, 1);
    assert.equal(lines.length - failed.length, RELIABILITY_SWEEP.length - 1);
    assert.equal(failed[0].key, runKey(RELIABILITY_SWEEP[RELIABILITY_SWEEP.length - 1]));
    assert.match(failed[0].status === 'failed' ? failed[0].error : '', /diverged.*try a smaller learning rate than 1e\+38/);
    assert.equal(failed[0].status === 'failed' && failed[0].cause, 'divergence');
    assert.equal(failed[0].failedAttempts?.length, 1, 'a divergence is not retried by default');

    const out = join(work, 'report');
    const { code, stdout, stderr } = await pmoe(['report', path, '--out', out]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /reliability: 6 runs, 1 failed/);
    const markdown = await readFile(join(out, 'reliability.md'), 'utf8');
    assert.match(markdown, /## Failed runs[\s\S]*try a smaller learning rate than 1e\+38/);
  });
});

/** Is process `pid` still running (a zombie, exited but not yet reaped, is not)? */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

/** The processes whose parent is `pid`. */
async function childrenOf(pid: number): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) found.push(Number(name));
  }
  return found;
}

it('a worker whose sweep is killed mid-run stops at its next epoch, not hours later', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
  const path = join(work, 'orphan.jsonl');
  const sweep = spawn(process.execPath, [here('../support/sweep-child.js'), path, 'orphan'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = once(sweep, 'exit');
  let worker: number | undefined;
  try {
    // The first run's line means the worker has just been sent the endless run.
    await until(() => readResults(path).lines.length > 0 || sweep.exitCode !== null, 'the first run');
    [worker] = await childrenOf(sweep.pid!);
    assert.ok(worker !== undefined && (await running(worker)), 'no worker found');
    await delay(500 + rng.int(500));
  } finally {
    sweep.kill('SIGKILL');
    await exited;
  }
  try {
    const deadline = Date.now() + 10_000;
    while ((await running(worker)) && Date.now() < deadline) await delay(50);
    assert.equal(await running(worker), false, `worker ${worker} still trains 10 s after its sweep was killed`);
    tally.kills++;
  } finally {
    if (await running(worker)) process.kill(worker, 'SIGKILL'); // never leave it training
  }
});

describe('numeric faults', () => {
  it('pmoe train with an absurd learning rate exits with the divergence and a hint, and appends no record', async () => {
    const out = join(work, 'diverged.jsonl');
    const { code, stderr } = await pmoe([
      'train',
      '--model',
      'separate',
      '--lr',
      '1e38',
      '--batch-size',
      '2',
      '--router-epochs',
      '5',
      '--epochs',
      '2',
      '--train-size',
      '20',
      '--backend',
      'wasm',
      '--out',
      out,
    ]);
    tally.badInputs++;
    assert.notEqual(code, 0);
    assert.match(stderr, /diverged.*try a smaller learning rate than 1e\+38/);
    assert.doesNotMatch(stderr, STACK_LINE);
    await assert.rejects(readFile(out), { code: 'ENOENT' });
  });

  it('a weight of -Infinity that the loss hides (ReLU maps it to 0) stops training', async () => {
    await initEngine('wasm');
    const model = new TwoLayerCnn({ patchCount: 4, patchDim: 3, neurons: 2, seed: 1 });
    try {
      // Neuron 0 sees only -Infinity on positive patches: its ReLU is 0, the loss stays finite.
      model.hidden.assign(
        tf.tensor2d([
          [-Infinity, 0.1],
          [-Infinity, 0.2],
          [-Infinity, 0.3],
        ]),
      );
      const data = {
        patches: new Float32Array(2 * 4 * 3).fill(0.5),
        labels: Int32Array.from([0, 1]),
        discriminativePatch: Int32Array.from([0, 0]),
        count: 2,
        patchCount: 4,
        patchDim: 3,
        classes: 2,
      };
      tally.badInputs++;
      assert.ok(Number.isFinite(evaluate(model, data).loss), 'the loss shows the fault after all; the test needs another one');
      assert.throws(
        () => checkFiniteWeights([model.hidden as tf.Variable], 3, 0.2),
        (error: unknown) => error instanceof DivergenceError && /epoch 3.*smaller learning rate than 0\.2/.test(error.message),
      );
    } finally {
      model.dispose();
    }
  });
});

/** Runs pmoe on `args`; for a case that must fail at once: no stack trace, exit 1. */
async function pmoeRefuses(args: readonly string[], env?: Readonly<Record<string, string>>): Promise<string> {
  const { code, stdout, stderr } = await pmoe(args, env);
  assert.equal(code, 1, `pmoe ${args.join(' ')}: exit ${code}\n${stdout}${stderr}`);
  assert.doesNotMatch(stderr + stdout, STACK_LINE, 'a stack trace was printed');
  return stderr;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A valid results file of two finished runs (report fixtures: no training). */
async function writeTwoRuns(path: string): Promise<string> {
  const lines = [
    okLine('fig4', { model: 'cnn', trainSize: 100, seed: 0, accuracy: 0.8 }),
    okLine('fig4', { model: 'cnn', trainSize: 100, seed: 1, accuracy: 0.82 }),
  ];
  await writeFile(path, lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
  return path;
}

describe('class: every option that names a path is known to the suite', () => {
  it('each <file> or <dir> option of every command is classified (PATH_OPTIONS), so it gets the checks of its kind', () => {
    const unknown = pmoeCommands().flatMap(({ name, options }) =>
      options.filter(takesPath).flatMap((option) => (`${name} ${option.long}` in PATH_OPTIONS ? [] : [`${name} ${option.long}`])),
    );
    assert.deepEqual(unknown, [], 'classify these in test/support/hostile-cases.ts PATH_OPTIONS');
  });
});

describe('class: data loss: a file that is not a results file is never rewritten', { concurrency: 2 }, () => {
  const results = (dir: string) => writeTwoRuns(join(dir, 'inputs.jsonl'));
  const resultsOptions = Object.entries(PATH_OPTIONS).filter(([, use]) => use === 'results');
  for (const [key] of resultsOptions) {
    for (const [victim, text] of Object.entries(NOT_RESULTS_FILES)) {
      it(`pmoe ${key} naming ${victim}: refused, naming the option and the file; the file unchanged`, async () => {
        const dir = await mkdtemp(join(work, 'loss-'));
        const target = join(dir, 'victim.jsonl');
        await writeFile(target, text);
        const stderr = await pmoeRefuses(writeFileCommand(key, target, dir, { results: await results(dir) }));
        counted('data loss');
        assert.match(stderr, new RegExp(`--out: '${escapeRegExp(target)}' is not a pmoe results file \\(line 1: `));
        assert.equal(await readFile(target, 'utf8'), text, 'the file was changed');
      });
    }
  }

  it('a results file with one foreign line at its end is refused whole, unchanged (pmoe reproduce)', async () => {
    const dir = await mkdtemp(join(work, 'loss-'));
    const target = await writeTwoRuns(join(dir, 'mixed.jsonl'));
    await appendFile(target, 'a note someone added\n');
    const before = await readFile(target, 'utf8');
    const stderr = await pmoeRefuses(writeFileCommand('reproduce --out', target, dir, { results: target }));
    counted('data loss');
    assert.match(stderr, /is not a pmoe results file \(line 3: it is not JSON\)/);
    assert.equal(await readFile(target, 'utf8'), before);
  });

  it("pmoe scaling-regimes: a regime's results file that is not one is refused before any run", async () => {
    const dir = await mkdtemp(join(work, 'loss-'));
    const target = join(dir, 'scaling-regimes-baseline-quick.jsonl');
    await writeFile(target, NOT_RESULTS_FILES['a README']);
    const stderr = await pmoeRefuses(writeFolderCommand('scaling-regimes --results-dir', dir, { results: '' })!.args);
    counted('data loss');
    assert.match(stderr, /--results-dir: '.*scaling-regimes-baseline-quick\.jsonl' is not a pmoe results file/);
    assert.equal(await readFile(target, 'utf8'), NOT_RESULTS_FILES['a README']);
  });

  it("pmoe train --out naming a sweep's results file: refused (its record would make the file unreadable); unchanged", async () => {
    const dir = await mkdtemp(join(work, 'loss-'));
    const target = await writeTwoRuns(join(dir, 'sweep.jsonl'));
    const before = await readFile(target, 'utf8');
    const stderr = await pmoeRefuses(writeFileCommand('train --out', target, dir, { results: target }));
    counted('data loss');
    assert.match(stderr, /--out: '.*sweep\.jsonl' is a sweep's results file/);
    assert.equal(await readFile(target, 'utf8'), before);
  });

  it('pmoe merge --out naming a results file that is not among the files merged: refused (its runs would be replaced); unchanged', async () => {
    const dir = await mkdtemp(join(work, 'loss-'));
    const input = await writeTwoRuns(join(dir, 'shard.jsonl'));
    const target = join(dir, 'other.jsonl');
    await writeFile(target, `${JSON.stringify(okLine('fig4', { model: 'joint', trainSize: 500, seed: 4, accuracy: 0.9 }))}\n`);
    const before = await readFile(target, 'utf8');
    const stderr = await pmoeRefuses(writeFileCommand('merge --out', target, dir, { results: input }));
    counted('data loss');
    assert.match(stderr, /--out: '.*other\.jsonl' already holds results and is not one of the files merged/);
    assert.equal(await readFile(target, 'utf8'), before);
  });

  it("pmoe report into a folder with a README.md, from results of an experiment named 'README': refused before any file is written", async () => {
    const dir = await mkdtemp(join(work, 'loss-'));
    const out = join(dir, 'reports');
    await mkdir(out);
    await writeFile(join(out, 'README.md'), NOT_RESULTS_FILES['a README']);
    const results = join(dir, 'named.jsonl');
    await writeFile(results, `${JSON.stringify(okLine('README', { model: 'cnn', trainSize: 100, seed: 0, accuracy: 0.8 }))}\n`);
    const stderr = await pmoeRefuses(['report', results, '--out', out]);
    counted('data loss');
    assert.match(stderr, /cannot write to '.*README\.md': it exists and was not written by pmoe report/);
    assert.deepEqual(await readdir(out), ['README.md']);
    assert.equal(await readFile(join(out, 'README.md'), 'utf8'), NOT_RESULTS_FILES['a README']);
  });

  it('pmoe train --save-model into a folder whose pmoe-model.json links to another file: refused before training; the file unchanged', async () => {
    const dir = await mkdtemp(join(work, 'loss-'));
    const victim = join(dir, 'notes.txt');
    await writeFile(victim, NOT_RESULTS_FILES['a README']);
    await mkdir(join(dir, 'model'));
    await symlink(victim, join(dir, 'model', 'pmoe-model.json'));
    const stderr = await pmoeRefuses(writeFolderCommand('train --save-model', join(dir, 'model'), { results: '' })!.args);
    counted('data loss');
    assert.match(stderr, /--save-model: .*pmoe-model\.json': it exists and was not written by pmoe \(a saved model\)/);
    assert.equal(await readFile(victim, 'utf8'), NOT_RESULTS_FILES['a README']);
  });

  for (const key of Object.keys(PATH_OPTIONS).filter((name) => PATH_OPTIONS[name] === 'generated')) {
    it(`pmoe ${key} naming a file it did not write: refused; the file unchanged`, async () => {
      const dir = await mkdtemp(join(work, 'loss-'));
      const target = join(dir, 'README.md');
      await writeFile(target, NOT_RESULTS_FILES['a README']);
      const stderr = await pmoeRefuses(writeFileCommand(key, target, dir, { results: '' }));
      counted('data loss');
      assert.match(stderr, /--out: '.*README\.md' exists and was not written by pmoe cluster/);
      assert.equal(await readFile(target, 'utf8'), NOT_RESULTS_FILES['a README']);
    });
  }
});

describe('class: special files: no device, named pipe or socket is written as an output', { concurrency: 2 }, () => {
  const fileOptions = Object.keys(PATH_OPTIONS).filter((key) => ['append', 'results', 'generated'].includes(PATH_OPTIONS[key]));
  const kinds = ['a named pipe', 'a socket', 'a link to /dev/null'] as const;
  for (const key of fileOptions) {
    for (const kind of kinds) {
      // An atomic rename over a link to a device node would replace the device, as root: only appending commands try /dev/null.
      if (kind === 'a link to /dev/null' && PATH_OPTIONS[key] === 'generated') continue;
      it(`pmoe ${key} naming ${kind}: refused at once (no hang), naming the option; the special file still there`, async () => {
        const dir = await mkdtemp(join(work, 'special-'));
        const target = join(dir, 'out.jsonl');
        let server: Server | undefined;
        if (kind === 'a named pipe') makeFifo(target);
        else if (kind === 'a socket') server = await makeSocket(target);
        else await symlink('/dev/null', target);
        try {
          const stderr = await pmoeRefuses(writeFileCommand(key, target, dir, { results: await writeTwoRuns(join(dir, 'inputs.jsonl')) }));
          counted('special files');
          const words = { 'a named pipe': 'a named pipe', 'a socket': 'a socket', 'a link to /dev/null': 'a character device' }[kind];
          assert.match(stderr, new RegExp(`--out: cannot write to '${escapeRegExp(target)}': it is ${words}`));
          const info = await stat(target);
          assert.ok(!info.isFile(), 'replaced by a regular file');
        } finally {
          server?.close();
        }
      });
    }
  }
  for (const key of Object.keys(PATH_OPTIONS).filter((name) => PATH_OPTIONS[name] === 'folder')) {
    it(`pmoe ${key}: a named pipe where it would write a file is refused before any work`, async (t) => {
      const dir = await mkdtemp(join(work, 'special-'));
      const folder = join(dir, 'out');
      await mkdir(folder);
      const command = writeFolderCommand(key, folder, { results: await writeTwoRuns(join(dir, 'inputs.jsonl')) });
      if (!command) return t.skip('its files are named at run time (appendToFile checks each one)');
      makeFifo(join(folder, command.file));
      const stderr = await pmoeRefuses(command.args);
      counted('special files');
      assert.match(stderr, new RegExp(`${escapeRegExp(key.split(' ').pop()!)}: .*${escapeRegExp(command.file)}'?: it is a named pipe`));
      assert.ok((await stat(join(folder, command.file))).isFIFO());
    });
  }
  it(
    'a folder on a kernel file system (/proc) is refused for every folder option, before any mkdir (which never returns there)',
    { skip: process.platform !== 'linux' && 'Linux file systems' },
    async () => {
      counted('special files', 2);
      assert.match(
        await pmoeRefuses(['train', '--epochs', '1', '--log-dir', '/proc/pmoe-logs']),
        /--log-dir: cannot write into the folder '\/proc\/pmoe-logs': it is on the proc file system/,
      );
      const dir = await mkdtemp(join(work, 'special-'));
      assert.match(
        await pmoeRefuses(['cluster', 'slurm', 'fig4', '--tasks', '2', '--workdir', '/proc/pmoe-work', '--out', join(dir, 'job.sbatch')]),
        /--workdir: cannot write into the folder '\/proc\/pmoe-work\/logs': it is on the proc file system/,
      );
      assert.deepEqual(await readdir(dir), []);
    },
  );

  it('inputs too: a named pipe among report --log-dir files, or as a results file to report on, is refused, not waited on', async () => {
    const dir = await mkdtemp(join(work, 'special-'));
    await mkdir(join(dir, 'logs'));
    makeFifo(join(dir, 'logs', 'run.jsonl'));
    makeFifo(join(dir, 'pipe.jsonl'));
    const results = await writeTwoRuns(join(dir, 'r.jsonl'));
    counted('special files', 2);
    assert.match(
      await pmoeRefuses(['report', results, '--log-dir', join(dir, 'logs'), '--out', join(dir, 'a')]),
      /run\.jsonl is a named pipe, not a regular file/,
    );
    assert.match(await pmoeRefuses(['report', join(dir, 'pipe.jsonl'), '--out', join(dir, 'b')]), /pipe\.jsonl is a named pipe, not a regular file/);
  });

  it('the one check: a device, a pipe, a socket, a folder and a kernel file are refused; a regular file, a new one and a link to one are not', async () => {
    const dir = await mkdtemp(join(work, 'special-'));
    makeFifo(join(dir, 'pipe'));
    const server = await makeSocket(join(dir, 'socket'));
    await writeFile(join(dir, 'file'), 'x');
    await symlink(join(dir, 'file'), join(dir, 'link'));
    try {
      const problems = Object.fromEntries(
        ['/dev/null', join(dir, 'pipe'), join(dir, 'socket'), dir, '/proc/self/oom_score_adj', join(dir, 'file'), join(dir, 'new'), join(dir, 'link')].map(
          (path) => [path, outputFileProblem(path)],
        ),
      );
      counted('special files', 8);
      assert.match(problems['/dev/null']!, /character device/);
      assert.match(problems[join(dir, 'pipe')]!, /named pipe/);
      assert.match(problems[join(dir, 'socket')]!, /socket/);
      assert.match(problems[dir]!, /folder/);
      if (process.platform === 'linux') assert.match(problems['/proc/self/oom_score_adj']!, /proc file system/);
      assert.deepEqual([problems[join(dir, 'file')], problems[join(dir, 'new')], problems[join(dir, 'link')]], [undefined, undefined, undefined]);
      // The appends and atomic writes of every command go through it.
      assert.throws(() => appendResult(join(dir, 'pipe'), resultLine(0)), /it is a named pipe/);
      await assert.rejects(writeFileAtomically(join(dir, 'socket'), 'x'), /it is a socket/);
    } finally {
      server.close();
    }
  });
});

describe('class: injection: no text in a cluster option becomes a command', () => {
  /** Runs the real command in this process (commander's own errors thrown, not exiting); returns what it threw. */
  const runIn = async (dir: string, args: readonly string[]): Promise<unknown> => {
    const cwd = process.cwd();
    process.chdir(dir);
    const program = pmoeProgram(['node', 'pmoe', ...args]);
    const quiet = (command: Command): void => {
      command.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
      command.commands.forEach(quiet);
    };
    quiet(program);
    try {
      await program.parseAsync(['node', 'pmoe', ...args]);
      return undefined;
    } catch (error) {
      return error;
    } finally {
      process.chdir(cwd);
    }
  };
  for (const { name, options } of pmoeCommands().filter((c) => c.name.startsWith('cluster '))) {
    for (const option of [...options.filter(takesText), { long: '<experiment>' }]) {
      it(`pmoe ${name} ${option.long} holding a newline and a command: refused, naming it, nothing written`, async () => {
        const dir = await mkdtemp(join(work, 'inject-'));
        const canary = join(dir, 'CANARY');
        const hostile = `x\ntouch ${canary}`;
        const args = ['cluster', ...name.split(' ').slice(1), 'fig4', '--tasks', '2', '--out', join(dir, 'job.out')];
        if (option.long === '<experiment>') args.splice(2, 1, hostile);
        else args.push(option.long!, option.long === '--out' ? join(dir, `job\n${canary}`) : hostile);
        const error = await runIn(dir, args);
        counted('injection');
        assert.ok(error instanceof Error, 'accepted');
        if (option.long !== '<experiment>') assert.match(error.message, new RegExp(`${escapeRegExp(option.long!)}: holds the control character U\\+000A`));
        else assert.match(error.message, /control character U\+000A|unknown experiment/);
        assert.deepEqual(await readdir(dir), [], 'a file was written');
      });
    }
  }

  it('shell metacharacters in --set, --pmoe and --workdir reach the task as literal words, and run nothing', async () => {
    const dir = await mkdtemp(join(work, 'inject-'));
    // Each hostile text would make a file named CANARY in the folder it runs in (the task's) if it ran.
    const canary = 'CANARY';
    // A stand-in for pmoe on the node: prints each argument it gets on a line of its own.
    const fake = join(dir, `fake pmoe;$(touch ${canary})`);
    await writeFile(fake, '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n', { mode: 0o755 });
    const workdir = join(dir, `w $(touch ${canary}) ';' x`);
    await mkdir(workdir);
    const set = [`note=$(touch ${canary})`, `b=\`touch ${canary}\``, `c=it's; touch ${canary}`, `d="$HOME" & touch ${canary}`];
    // The script as the command writes it (the options are the sweep's to check, on the node).
    const script = slurmScript(
      { experiment: 'fig4', tasks: 2, set, jobs: 1 },
      { pmoe: [fake], workdir, logDir: join(workdir, 'logs'), writtenBy: ['pmoe', 'cluster', 'slurm', ...set].map(shellWord).join(' ') },
    );
    await writeFile(join(dir, 'job.sbatch'), script);
    const { stdout } = await promisify(execFile)('bash', [join(dir, 'job.sbatch')], { cwd: workdir });
    counted('injection', set.length + 2);
    assert.deepEqual(stdout.split('\n').slice(0, 6), ['reproduce', 'fig4', '--shard', 'auto', '--jobs', '1']);
    assert.deepEqual(
      stdout.split('\n').slice(6, 6 + 2 * set.length),
      set.flatMap((pair) => ['--set', pair]),
      'an option did not arrive whole',
    );
    assert.ok(!existsSync(join(workdir, canary)) && !existsSync(join(dir, canary)), 'a command in an option ran');
  });

  it('an empty --pmoe (the task would run whatever `reproduce` is on the node) is refused', async () => {
    for (const kind of ['slurm', 'k8s']) {
      const dir = await mkdtemp(join(work, 'inject-'));
      const error = await runIn(dir, ['cluster', kind, 'fig4', '--tasks', '2', '--pmoe', ' ', '--out', join(dir, 'job')]);
      counted('injection');
      assert.match(String(error), /--pmoe: must not be empty/);
      assert.deepEqual(await readdir(dir), []);
    }
  });

  it('invisible reordering characters (a right-to-left override) and a relative k8s --workdir are refused', async () => {
    const dir = await mkdtemp(join(work, 'inject-'));
    const spoof = await runIn(dir, ['cluster', 'slurm', 'fig4', '--tasks', '2', '--set', 'seeds=2\u202e#', '--out', join(dir, 'job')]);
    const relative = await runIn(dir, ['cluster', 'k8s', 'fig4', '--tasks', '2', '--workdir', 'work', '--out', join(dir, 'job')]);
    counted('injection', 2);
    assert.match(String(spoof), /--set: holds the control character U\+202E/);
    assert.match(String(relative), /--workdir: must be an absolute path in the container/);
    assert.deepEqual(await readdir(dir), []);
  });

  it('#SBATCH values are one bare word each: a space or a quote in --partition, --time or --mem is refused', async () => {
    for (const [option, value] of [
      ['--partition', 'gpu --output=/etc/passwd'],
      ['--time', "2:00:00'"],
      ['--mem', '4G;x'],
    ]) {
      const dir = await mkdtemp(join(work, 'inject-'));
      const error = await runIn(dir, ['cluster', 'slurm', 'fig4', '--tasks', '2', option, value, '--out', join(dir, 'job.sbatch')]);
      counted('injection');
      assert.match(String(error), new RegExp(`${option}: must be one word`));
      assert.deepEqual(await readdir(dir), []);
    }
  });

  it('shellWord: every text reads back as itself in bash, control characters included, and none leaves a raw newline', async () => {
    const texts = [
      'plain',
      "it's",
      'a b',
      'a\nb; echo PWNED',
      '$(echo PWNED)',
      '`echo PWNED`',
      'tab\there',
      'x\u0085y\u2028z',
      "q'\\\u001b[31m",
      'a\u202eb\u200bc',
    ];
    for (const text of texts) {
      const word = shellWord(text);
      assert.doesNotMatch(word, /[\n\r\u2028\u2029]/, `${JSON.stringify(text)} left a line break`);
      const { stdout } = await promisify(execFile)('bash', ['-c', `printf '%s' ${word}`]);
      assert.equal(stdout, text, `${JSON.stringify(text)} read back as ${JSON.stringify(stdout)}`);
    }
    counted('injection', texts.length);
  });
});

describe('class: data-file paths: a name read from a data file stays inside its folder', () => {
  const names = ['../secret.jpg', '/etc/passwd', '..', 'sub/../../x.jpg', '000001.jpg/../../y.jpg'];
  for (const name of names) {
    it(`a CelebA list naming '${name}' is refused, naming the list, the line and the name`, async () => {
      const image = {
        file: '000001.jpg',
        values: Array.from({ length: 40 }, () => 1),
        partition: 0 as const,
        jpeg: bandedJpeg(8, 8, [0, 0, 0], [9, 9, 9], [0, 0, 0]),
      };
      const hostile = { ...image, file: name };
      const dir = await writeCelebaFixture([image], { attributes: attributeText([image, hostile]), partition: partitionText([image, hostile]) });
      try {
        counted('data-file paths');
        await assert.rejects(loadCelebaIndex(dir), (error: unknown) => {
          assert.ok(error instanceof DataFileError, String(error));
          assert.match(error.message, new RegExp(`list_attr_celeba\\.txt: line 4: image name '${escapeRegExp(name)}' does not stay inside img_align_celeba/`));
          return true;
        });
        await assert.rejects(loadCelebaImages(dir, [name], 8), /does not stay inside/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
  for (const [index, name] of ['../outside.bin', '/etc/passwd', 'sub/../../outside.bin'].entries()) {
    it(`a TensorFlow.js model.json naming the weights file '${name}' is refused before any weights are read`, async () => {
      const dir = join(work, `tfjs-model-${index}`);
      await mkdir(join(dir, 'model'), { recursive: true });
      await writeFile(join(dir, 'outside.bin'), '');
      await writeFile(join(dir, 'model', 'weights.bin'), '');
      const manifest = (paths: string[]) => JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths, weights: [] }] });
      counted('data-file paths');
      await writeFile(join(dir, 'model', 'model.json'), manifest([name]));
      await assert.rejects(fileLoadHandler(join(dir, 'model', 'model.json')).load!(), (error: unknown) => {
        assert.match(String(error), new RegExp(`model\\.json: the weights file "${escapeRegExp(name)}" it names is refused: it`));
        return true;
      });
      // The file beside model.json, as saveModelFiles names it, is read.
      await writeFile(join(dir, 'model', 'model.json'), manifest(['weights.bin']));
      assert.equal(((await fileLoadHandler(join(dir, 'model', 'model.json')).load!()).weightData as ArrayBuffer).byteLength, 0);
    });
  }
  it('names inside the folder, in a subfolder or with a harmless ./ or .., are read', () => {
    counted('data-file paths');
    assert.deepEqual(['000001.jpg', 'sub/000002.jpg', './000003.jpg', 'sub/../000004.jpg'].map(outsideFolderProblem), [
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});

describe('class: locks: every name of a file, hard links included, finds its lock', () => {
  it('a hard link to a locked results file is refused; report and merge read the two names once', async () => {
    const dir = await mkdtemp(join(work, 'locks-'));
    const path = await writeTwoRuns(join(dir, 'r.jsonl'));
    const other = join(dir, 'sub');
    await mkdir(other);
    const linked = join(other, 'hard.jsonl');
    await link(path, linked);
    const release = await lockResults(path);
    try {
      counted('locks', 2);
      await assert.rejects(
        lockResults(linked),
        (error: unknown) => error instanceof ResultsLockedError && /another name of the same file, a hard link/.test(error.message),
      );
      await assert.rejects(runSweep(RELIABILITY_SWEEP.slice(0, 1), { experiment: 'fig4', resultsPath: linked, jobs: 1, backend: 'wasm' }), ResultsLockedError);
    } finally {
      await release();
    }
    const merged = await mergeResultsFiles([path, linked]);
    counted('locks');
    assert.equal(merged.inputs.length, 1, 'the one file was read twice');
    assert.match(merged.warnings.join('\n'), /hard\.jsonl is the same file as .*r\.jsonl: read once/);
  });
});

describe('class: locks (merge and status)', () => {
  it('pmoe merge takes the lock of its --out: merging into a file a sweep is writing is refused, the file unchanged', async () => {
    const dir = await mkdtemp(join(work, 'locks-'));
    const shard = await writeTwoRuns(join(dir, 'shard.jsonl'));
    const out = await writeTwoRuns(join(dir, 'merged.jsonl'));
    const before = await readFile(out, 'utf8');
    const release = await lockResults(out);
    try {
      counted('locks');
      await assert.rejects(mergeCommand([shard, out], out), ResultsLockedError);
      assert.equal(await readFile(out, 'utf8'), before);
    } finally {
      await release();
    }
  });

  it('pmoe status counts a file under two names (a hard link in the folder) once', async () => {
    const dir = await mkdtemp(join(work, 'locks-'));
    const path = await writeTwoRuns(join(dir, 'fig4.jsonl'));
    await link(path, join(dir, 'fig4-copy.jsonl'));
    counted('locks');
    const [status] = await statusCommand([dir], {});
    assert.equal(status.experiment, 'fig4');
    assert.deepEqual([status.done, status.shards.flatMap((shard) => shard.files).length], [2, 1], JSON.stringify(status));
  });
});

describe('class: resume and report judge every line alike', () => {
  it('lines the report refuses (an accuracy of 7, a NaN, a key not its spec, a run its experiment does not make) are not finished for resume: rerun, moved aside, and the file is reportable', async () => {
    const path = join(work, 'judged.jsonl');
    const specs = RELIABILITY_SWEEP.slice(0, 3);
    await runSweep(specs, { experiment: 'reliability', resultsPath: path, jobs: 2, backend: 'wasm' });
    const [a, b, c] = (await readFile(path, 'utf8')).trim().split('\n');
    const edit = (text: string, change: (line: Record<string, Record<string, unknown>>) => void) => {
      const line = JSON.parse(text) as Record<string, Record<string, unknown>>;
      change(line);
      return JSON.stringify(line);
    };
    const refused = [
      edit(b, (line) => (line.record.finalTestAccuracy = 7)),
      edit(c, (line) => (line.record.finalTestAccuracy = 'NaN')),
      edit(a, (line) => ((line as Record<string, unknown>).key = '0123456789abcdef')),
      JSON.stringify({ ...okLine('fig8', { model: 'separate', trainSize: 100, seed: 0, epochs: 3, routerRates: [0.9] }), experiment: 'fig8' }),
    ];
    await writeFile(path, [a, ...refused].map((line) => `${line}\n`).join(''));
    counted('resume and report', refused.length);
    await assert.rejects(loadResultsFile(path), (error: unknown) => {
      assert.match(String(error), /4 bad lines/);
      for (const line of [2, 3, 4, 5]) assert.match(String(error), new RegExp(`line ${line}: not a pmoe result line`));
      return true;
    });
    // The reports that read results as the sweep does (scaling, pair atlas) refuse them as pmoe report does.
    assert.throws(() => readResultsForReport(path), /judged\.jsonl: 4 bad lines[\s\S]*line 2: not a pmoe result line/);
    const resumed = await runSweep(specs, { experiment: 'reliability', resultsPath: path, jobs: 2, backend: 'wasm' });
    assert.equal(resumed.ran, 2, 'the runs whose lines were refused ran again, the finished one did not');
    assert.deepEqual(
      resumed.refusedLines.map((line) => line.line),
      [2, 3, 4, 5],
    );
    const loaded = await loadResultsFile(path);
    assert.equal(loaded.lines.length, 3);
    assert.equal(await readFile(refusedLinesPath(path), 'utf8'), refused.map((line) => `${line}\n`).join(''), 'the refused lines were lost');
  });
});

describe('class: limits', () => {
  const hostileNumbers = ['0x10', '0b11', '0o7', '+5', ' 7', '7 ', 'Infinity', '1e999', '1_000', ''];
  it(`every numeric option of every command refuses ${hostileNumbers.map((n) => JSON.stringify(n)).join(', ')}`, () => {
    const accepted: string[] = [];
    for (const { name, options } of pmoeCommands()) {
      for (const option of options.filter(takesNumber)) {
        // A list's items may have spaces around them ("1, 0").
        for (const text of option.flags.includes('<list>') ? hostileNumbers.filter((n) => n.trim() === n) : hostileNumbers) {
          counted('limits');
          try {
            option.parseArg!(text, undefined);
            accepted.push(`${name} ${option.long} ${JSON.stringify(text)}`);
          } catch (error) {
            assert.ok(error instanceof InvalidArgumentError, `${name} ${option.long}: ${String(error)}`);
          }
        }
      }
    }
    assert.deepEqual(accepted, []);
  });

  it('--jobs and --cpus-per-task are capped: four workers per core of this machine (jobs), or 1024 CPUs (a task)', async () => {
    const over = { '--jobs': maxJobs() + 1, '--cpus-per-task': 1025 };
    for (const { name, options } of pmoeCommands()) {
      for (const option of options.filter((o) => o.long === '--jobs' || o.long === '--cpus-per-task')) {
        counted('limits');
        assert.throws(() => option.parseArg!(String(over[option.long as keyof typeof over]), undefined), InvalidArgumentError, `${name} ${option.long}`);
        assert.doesNotThrow(() => option.parseArg!('2', undefined));
      }
    }
    await assert.rejects(runSweep([], { experiment: 'x', jobs: maxJobs() + 1 }), /jobs: must be an integer in 1\.\.\d+, four worker processes per core/);
  });

  it('an environment setting pmoe computes by (threads, convolutions, precision, step, FMA, memory, locks) is checked before any work', async () => {
    const hostile = {
      PMOE_THREADS: 'lots',
      PMOE_CONV: 'fast',
      PMOE_PRECISION: 'half',
      PMOE_IMAGE_STEP: 'tape',
      PMOE_FMA: 'false',
      PMOE_MEMORY_LIMIT_MB: '0x10',
      PMOE_LOCK_STALE_MS: '1e999',
    };
    for (const [name, value] of Object.entries(hostile)) {
      const out = join(work, `environment-${name}.jsonl`);
      // fig4 runs none of the image settings: before this check its workers failed every run, or never read them.
      const stderr = await pmoeRefuses(['reproduce', 'fig4', '--quick', '--out', out], { [name]: value });
      counted('limits');
      assert.ok(stderr.includes(name) && stderr.includes(value), `${name}=${value}: ${stderr}`);
      assert.equal(existsSync(out), false, `${name}=${value}: ${out} was written`);
      assert.throws(() => checkEnvironment({ [name]: value }), OptionError, name);
    }
    const good = {
      PMOE_THREADS: '1',
      PMOE_CONV: 'direct',
      PMOE_PRECISION: 'mixed',
      PMOE_IMAGE_STEP: 'autodiff',
      PMOE_FMA: '0',
      PMOE_MEMORY_LIMIT_MB: '512',
      PMOE_LOCK_STALE_MS: '5000',
    };
    assert.doesNotThrow(() => checkEnvironment(good));
    assert.doesNotThrow(() => checkEnvironment({}));
  });

  it('pmoe train takes as many epochs as a sweep, no more; --router-samples above N is recorded as the N samples used', async () => {
    const stderr = await pmoeRefuses(['train', '--epochs', '1000000', '--out', join(work, 'epochs.jsonl')]);
    counted('limits');
    assert.match(stderr, /--epochs \(training\.epochs\): must be an integer in 0\.\.100000 \(got 1000000\)/);
    const {
      code,
      stdout,
      stderr: trainErr,
    } = await pmoe([
      'train',
      '--model',
      'separate',
      '--train-size',
      '20',
      '--test-size',
      '20',
      '--epochs',
      '1',
      '--router-epochs',
      '1',
      '--router-samples',
      '500',
      '--backend',
      'wasm',
      '--json',
    ]);
    counted('limits');
    assert.equal(code, 0, trainErr);
    assert.equal((JSON.parse(stdout) as { training: { routerSamples: number } }).training.routerSamples, 20);
  });
});

describe('class: messages name the option or the file', () => {
  it('a results line that cannot be appended mid-sweep stops the sweep, naming the file, the run and how to resume; a rerun finishes', async () => {
    const path = join(work, 'unwritable.jsonl');
    const child = spawn(process.execPath, [here('../support/sweep-child.js'), path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let printed = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (printed += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const exited = once(child, 'exit');
    // Once the sweep has started its workers, the file is swapped for a folder: every append fails, as on a full disk
    // (a disk cannot be filled here, and a file-size limit would kill the process: signal-exit re-raises SIGXFSZ).
    await until(() => printed.includes('started') || child.exitCode !== null, 'the sweep to start');
    await rename(path, `${path}.aside`);
    await mkdir(path);
    const [code] = (await exited) as [number | null];
    counted('messages');
    assert.notEqual(code, 0, 'the sweep did not stop');
    assert.match(
      stderr,
      new RegExp(
        `cannot append run .* to the results file '${escapeRegExp(path)}': it is a folder, not a file \\(EISDIR\\)\\. The sweep stopped; \\d+ of its ${RELIABILITY_SWEEP.length} runs are in the file, and the same command resumes after them`,
      ),
    );
    await rm(path, { recursive: true });
    await rename(`${path}.aside`, path);
    await sweepProcess(path);
    assert.equal(readResults(path).lines.length, RELIABILITY_SWEEP.length);
  });

  it("a CIFAR-10 file of more records than a batch holds, read with recordsPerFile 'any', names the file and the option", async () => {
    const dir = await mkdtemp(join(work, 'cifar-'));
    // Sparse: 10001 records take no space on disk.
    await writeFile(join(dir, 'test_batch.bin'), '');
    await truncate(join(dir, 'test_batch.bin'), 10_001 * 3073);
    counted('messages');
    await assert.rejects(loadCifar10(dir, 'test', { recordsPerFile: 'any' }), (error: unknown) => {
      assert.ok(error instanceof DataFileError, String(error));
      assert.match(
        error.message,
        /test_batch\.bin: holds 10001 records .* more than the 10000 of a CIFAR-10 batch file; recordsPerFile 'any' \(cifarRecordsPerFile in a sweep\)/,
      );
      return true;
    });
  });

  it('a batch too large for the two-thread arena runs on one thread; one too large for any names --batch-size', () => {
    let attempts = 0;
    const trainer = buildTrainer(
      () => {
        attempts++;
        if (attempts === 1) throw new ArenaLimitError(1.2 * 2 ** 30, true);
        return 'trainer';
      },
      { batchSize: 10_000, samples: 10_100 },
    );
    counted('messages', 2);
    assert.deepEqual([trainer, attempts], ['trainer', 2]);
    assert.throws(
      () =>
        buildTrainer(
          () => {
            throw new ArenaLimitError(5 * 2 ** 30, false);
          },
          { batchSize: 40_000, samples: 40_100 },
        ),
      /training\.batchSize: a batch of 40000 samples with 40100 samples of data needs more than the 4 GiB .* use a smaller batch size \(--batch-size\)/,
    );
  });
});

describe('class: signals: pmoe report stops soon after SIGINT or SIGTERM', () => {
  /** A results file of `count` runs (report fixtures: small lines, no training). */
  async function manyRuns(path: string, count: number): Promise<string> {
    const lines = Array.from({ length: count }, (_, i) =>
      JSON.stringify(
        okLine('fig4', {
          model: (['cnn', 'separate', 'joint'] as const)[i % 3],
          trainSize: [100, 500][((i / 3) % 2) | 0],
          seed: (i / 6) | 0,
          accuracy: 0.5 + (i % 50) / 100,
        }),
      ),
    );
    await writeFile(path, `${lines.join('\n')}\n`);
    return path;
  }

  it('its long steps let the event loop turn (where a signal handler runs): per 1000 lines read, per experiment, per 500 table rows of the page', async () => {
    const path = await manyRuns(join(work, 'turns.jsonl'), 3000);
    let turns = 0;
    let ticking = true;
    const tick = () => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    try {
      await loadResultsFile(path);
      const afterLoad = turns;
      const table = ['| run | accuracy |', '|---|--:|', ...Array.from({ length: 2000 }, (_, i) => `| ${i} | ${i / 2000} |`)].join('\n');
      const markdown = `# Runs\n\n<details><summary>all runs</summary>\n\n${table}\n\n</details>\n\nafter\n`;
      const html = await markdownToHtmlInTurns(markdown);
      counted('signals', 2);
      assert.ok(afterLoad >= 3, `${afterLoad} turns while 3000 lines were read`);
      assert.ok(turns - afterLoad >= 4, `${turns - afterLoad} turns while a 2000-row table was converted`);
      assert.equal(html, markdownToHtml(markdown), 'the table converted in slices differs');
    } finally {
      ticking = false;
    }
  });

  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    it(`${signal} during a large report: exits ${code}, says so, and writes no index.html`, async () => {
      const dir = await mkdtemp(join(work, 'signal-'));
      const results = await manyRuns(join(dir, 'many.jsonl'), 40_000);
      const out = join(dir, 'report');
      const child = spawn(process.execPath, ['bin/pmoe.js', 'report', results, '--out', out], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      const exited = once(child, 'exit');
      // The folder is made once every line has been read and checked: the handlers are in place, the figures not yet written.
      await until(() => existsSync(out) || child.exitCode !== null, 'the report to start writing');
      child.kill(signal);
      const [exitCode] = (await exited) as [number | null];
      counted('signals');
      assert.equal(exitCode, code, stderr);
      assert.match(stderr, new RegExp(`pmoe report: stopped by ${signal}; the report in .* is incomplete`));
      assert.equal(existsSync(join(out, 'index.html')), false, 'the report ran to its end: the signal was not handled');
    });
  }
});

it('summary: no finished record was lost', (t) => {
  const classes = Object.entries(byClass)
    .map(([name, count]) => `${name} ${count}`)
    .join(', ');
  t.diagnostic(
    `fault-injection: ${tally.badInputs} bad inputs tried, ${tally.kills} kills survived, ${tally.failuresRetried} failures retried, ${tally.recordsLost} records lost; by class: ${classes} (PMOE_TEST_SEED=${seed})`,
  );
  assert.equal(tally.recordsLost, 0);
  assert.ok(tally.badInputs > 0 && tally.kills > 0, 'nothing was tried');
  for (const [name, count] of Object.entries(byClass)) assert.ok(count > 0, `no case of class ${name} ran`);
});
