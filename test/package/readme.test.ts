import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const readme = readFileSync(join(repo, 'README.md'), 'utf8');

/** The fenced code blocks of `language` in the README, in order. */
function codeBlocks(language: string): string[] {
  return [...readme.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((match) => match[1]);
}

/** A Markdown table's rows after `header` (a line of it), as cells. */
function tableAfter(header: string): string[][] {
  const lines = readme.split('\n');
  const start = lines.findIndex((line) => line.startsWith(header));
  assert.ok(start >= 0, `a table headed ${header}`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

describe('README.md', () => {
  it('is at most about 200 lines and opens, under its title, with the two set-up commands', () => {
    assert.ok(readme.split('\n').length <= 200, `${readme.split('\n').length} lines`);
    const setup = /^# pmoe\n\n```bash\n([^`]*)```\n/.exec(readme)?.[1];
    assert.ok(setup, 'a bash block right after the title');
    assert.deepEqual(
      setup
        .trimEnd()
        .split('\n')
        .map((line) => line.replace(/ +#.*$/, '')),
      ['npm ci && npm run demo', 'npm test'],
    );
  });

  it('its command examples run as written (their /tmp/ paths in a temporary folder)', () => {
    const examples = codeBlocks('bash').find((block) => block.includes('node bin/pmoe.js'));
    assert.ok(examples, 'a block of pmoe command examples');
    const workDir = mkdtempSync(join(tmpdir(), 'pmoe-readme-commands-'));
    try {
      for (const line of examples.trim().split('\n')) {
        const [node, bin, ...args] = line.replaceAll('/tmp/', `${workDir}/`).split(/ +/);
        assert.deepEqual([node, bin], ['node', 'bin/pmoe.js'], line);
        const run = spawnSync(process.execPath, [join(repo, bin), ...args], { cwd: workDir, encoding: 'utf8', timeout: 600_000 });
        assert.equal(run.status, 0, `${line}: ${run.stderr}`);
      }
      assert.ok(existsSync(join(workDir, 'report', 'index.html')), 'the report example wrote its page');
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  });

  describe('its TypeScript blocks type-check and run as written', () => {
    // Inside the package (dist/ is not tracked), so that `import ... from 'pmoe'` is pmoe itself; run in a temporary folder.
    const blocksDir = join(repo, 'dist', 'readme-blocks');
    const workDir = mkdtempSync(join(tmpdir(), 'pmoe-readme-'));
    after(() => {
      rmSync(blocksDir, { recursive: true, force: true });
      rmSync(workDir, { recursive: true, force: true });
    });
    const blocks = codeBlocks('ts');

    it('there are blocks to check, and tsc finds no error in them', () => {
      assert.ok(blocks.length >= 2);
      rmSync(blocksDir, { recursive: true, force: true });
      mkdirSync(blocksDir, { recursive: true });
      blocks.forEach((code, i) => writeFileSync(join(blocksDir, `block-${i + 1}.ts`), `${code}\nexport {};\n`));
      // skipLibCheck: TensorFlow.js's own declarations have errors under strict (the consumer test counts them).
      const compilerOptions = {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: true,
        outDir: 'out',
        rootDir: '.',
        types: ['node'],
      };
      writeFileSync(join(blocksDir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['block-*.ts'] }));
      const tsc = spawnSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'lib', 'tsc.js'), '-p', blocksDir], {
        encoding: 'utf8',
        timeout: 180_000,
      });
      assert.equal(tsc.status, 0, tsc.stdout);
    });

    blocks.forEach((code, i) => {
      it(`block ${i + 1} (${
        code
          .split('\n')
          .find((line) => line.includes("from 'pmoe'"))
          ?.trim() ?? ''
      }) runs`, () => {
        const script = join(blocksDir, 'out', `block-${i + 1}.js`);
        assert.ok(existsSync(script), 'compiled');
        const run = spawnSync(process.execPath, [script], { cwd: workDir, encoding: 'utf8', timeout: 300_000 });
        assert.equal(run.status, 0, run.stderr);
      });
    });
  });

  it('the demo table is what `npm run demo -- --json` prints', () => {
    const demo = spawnSync(process.execPath, [join(repo, 'bin', 'pmoe.js'), 'demo', '--json'], { cwd: repo, encoding: 'utf8', timeout: 600_000 });
    assert.equal(demo.status, 0, demo.stderr);
    const result = JSON.parse(demo.stdout) as { rows: { trainSize: number; model: string; testAccuracy: number; routingRate?: number }[] };
    const percent = (value: number | undefined) => `${(100 * value!).toFixed(1)}%`;
    const expected = [...new Set(result.rows.map((row) => row.trainSize))].map((size) => {
      const of = (model: string) => result.rows.find((row) => row.trainSize === size && row.model === model)!;
      return [
        String(size),
        percent(of('cnn').testAccuracy),
        percent(of('separate').testAccuracy),
        percent(of('separate').routingRate),
        percent(of('joint').testAccuracy),
        percent(of('joint').routingRate),
      ];
    });
    assert.deepEqual(tableAfter('| N | CNN acc |'), expected);
  });

  it('every number a findings row quotes is in the committed report it links (as the report rounds it, or as a fraction)', () => {
    const rows = tableAfter('| experiment (runs) |');
    assert.ok(rows.length >= 8);
    for (const [experiment, measured] of rows) {
      const link = /\]\((results\/[^)]+\.md)\)/.exec(experiment);
      assert.ok(link, `${experiment} links its report`);
      const report = readFileSync(join(repo, link[1]), 'utf8');
      const reported = [...report.matchAll(/-?\d+(?:\.\d+)?/g)].map((match) => Number(match[0]));
      for (const quoted of measured.match(/\d+(?:\.\d+)?/g) ?? []) {
        const decimals = quoted.split('.')[1]?.length ?? 0;
        const found = reported.some((value) => value.toFixed(decimals) === quoted || (100 * value).toFixed(decimals) === quoted);
        assert.ok(found, `${link[1]}: ${quoted} (in "${measured}")`);
      }
    }
  });

  it('every command of the commands table answers --help, and every linked file exists', () => {
    for (const [command] of tableAfter('| command | what it does |')) {
      const name = /^`pmoe ([a-z-]+)/.exec(command)?.[1];
      if (!name) continue; // npm run bench
      const help = spawnSync(process.execPath, [join(repo, 'bin', 'pmoe.js'), name, '--help'], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(help.status, 0, `pmoe ${name} --help: ${help.stderr}`);
    }
    for (const [, target] of readme.matchAll(/\]\(([^)#]+)\)/g)) {
      if (!/^https?:/.test(target)) assert.ok(existsSync(join(repo, target)), target);
    }
  });
});
