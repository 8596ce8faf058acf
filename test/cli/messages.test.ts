import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BIN, REPO } from '../support/pmoe-cli.js';
import { closestName } from '../../src/util/suggest.js';
import { formatSweepSummary } from '../../src/cli/reproduce.js';
import { startProgress } from '../../src/cli/progress.js';

const run = promisify(execFile);

async function pmoe(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { timeout: 120_000, cwd: REPO });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { stdout: string; stderr: string; code: number };
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
  }
}

describe("the pmoe command's messages", () => {
  it('an error is its line and where to read the help, never the whole help', async () => {
    const cases: [string[], RegExp][] = [
      [['train', '--wings', '2'], /^error: unknown option '--wings'\nsee `pmoe train --help`\n$/],
      [['train', '--lr', 'fast'], /^error: option '--lr <x>' argument 'fast' is invalid\. expected a finite number, got 'fast'\nsee `pmoe train --help`\n$/],
      [['cluster', 'slurm', 'fig4'], /^error: required option '--tasks <n>' not specified\nsee `pmoe cluster slurm --help`\n$/],
      [['frobnicate'], /^error: unknown command 'frobnicate'\nsee `pmoe --help`\n$/],
    ];
    for (const [args, message] of cases) {
      const result = await pmoe(...args);
      assert.equal(result.code, 1, args.join(' '));
      assert.match(result.stderr, message, args.join(' '));
      assert.doesNotMatch(result.stderr, /Usage:/);
    }
  });

  it('a mistyped experiment gets a "did you mean"; a list without brackets is told to use them', async () => {
    for (const name of ['fig-4', 'Fig4', 'fgi4', 'fig_4']) {
      const result = await pmoe('reproduce', name);
      assert.match(result.stderr, new RegExp(`unknown experiment '${name}' \\(did you mean fig4\\?\\)`), name);
    }
    assert.doesNotMatch((await pmoe('reproduce', 'banana')).stderr, /did you mean/);
    const list = await pmoe('reproduce', 'fig4', '--set', 'sizes=100,500', '--out', join(tmpdir(), 'pmoe-never-written.jsonl'));
    assert.match(list.stderr, /fig4\.sizes: .* \(got '100,500'\); write a list in brackets, as \[100,500\]/);
    assert.equal(closestName('scalng', ['scaling', 'fig4']), 'scaling');
    assert.equal(closestName('wrn-mnits', ['wrn-mnist', 'wrn-fashion']), 'wrn-mnist');
    assert.equal(closestName('fig', ['fig4', 'fig5']), undefined, 'too short to guess');
  });

  it('train refuses a data option its --data does not read, and its help shows the data model defaults', async () => {
    const synthetic = await pmoe('train', '--data', 'mnist-patch', '--d', '10');
    assert.equal(synthetic.code, 1);
    assert.match(synthetic.stderr, /^pmoe: --d: read by --data synthetic only, not by --data mnist-patch\n/);
    assert.match((await pmoe('train', '--grid-size', '3')).stderr, /--grid-size: read by --data mnist-patch and fashion-patch only, not by --data synthetic/);
    const help = (await pmoe('train', '--help')).stdout.replace(/\s+/g, ' ');
    for (const text of ['patch dimension d (default 32)', 'patches per sample n (default 16)', '(default 0.6)', '(default 1000;', 'l* = 1 + confusers']) {
      assert.ok(help.includes(text), text);
    }
  });

  it('--patches-per-expert lstar trains with l = l* of the data drawn; other data and other words are refused', async () => {
    const result = await pmoe(
      'train',
      '--model',
      'separate',
      '--patches-per-expert',
      'lstar',
      '--confusers',
      '3',
      '--train-size',
      '60',
      '--test-size',
      '60',
      '--epochs',
      '1',
      '--router-epochs',
      '1',
      '--json',
    );
    assert.equal(result.code, 0, result.stderr);
    const record = JSON.parse(result.stdout) as { lStar: number; model: { patchesPerExpert: number } };
    assert.equal(record.model.patchesPerExpert, record.lStar);
    assert.ok(record.lStar >= 2 && record.lStar <= 4);
    assert.match((await pmoe('train', '--data', 'mnist-patch', '--patches-per-expert', 'lstar')).stderr, /lstar: l\* is known for --data synthetic only/);
    assert.match((await pmoe('train', '--patches-per-expert', 'many')).stderr, /expected an integer or 'lstar', got 'many'/);
  });

  it('reproduce says when its results file already holds every run, and how to run them again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-nothing-to-run-'));
    try {
      const file = join(dir, 'fig8.jsonl');
      await copyFile(join(REPO, 'results', 'fig8.jsonl'), file);
      const result = await pmoe('reproduce', 'fig8', '--out', file);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /50 of 50 runs finished, 0 failed \(0 run now\)/);
      assert.match(result.stdout, /nothing to run: .*fig8\.jsonl holds every run already \(a sweep resumes its file\); --out <new file> runs them again/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const partial = formatSweepSummary('fig4', { lines: [], ran: 0, retried: 0, resultsPath: 'r.jsonl', runs: 3 } as never, 'changeable');
    assert.doesNotMatch(partial, /nothing to run/);
  });

  it('backends lists tensorflow too, saying how to get it where it is missing', async () => {
    const result = await pmoe('backends', '--json');
    assert.equal(result.code, 0, result.stderr);
    const tensorflow = (JSON.parse(result.stdout) as { backends: { name: string; usable: boolean; reason?: string }[] }).backends.find(
      (b) => b.name === 'tensorflow',
    );
    assert.ok(tensorflow, 'listed');
    if (!tensorflow.usable) assert.match(tensorflow.reason!, /@tensorflow\/tfjs-node/);
  });

  it("the progress line gives one ETA: the sweep's own where it has one", () => {
    const written: string[] = [];
    const write = process.stderr.write;
    const tty = process.stderr.isTTY;
    process.stderr.isTTY = false;
    process.stderr.write = ((text: string) => written.push(text)) as never;
    try {
      const progress = startProgress(4, 'fig4');
      progress.update(2, 'N=100 cnn', 42);
      progress.update(4, 'N=200 joint', 0);
    } finally {
      process.stderr.write = write;
      process.stderr.isTTY = tty;
    }
    assert.equal(written.length, 2);
    assert.match(written[0], /^fig4: 2\/4 N=100 cnn \(\d+ s, eta 42 s\)\n$/);
    assert.equal(written.join('').match(/eta/g)!.length, 2);
  });
});
