/**
 * The fault-injection suite's hostile inputs that apply to every command of a kind: each option
 * that names a path (what it may be and what an existing file there may hold), each option that
 * takes a number, each text that goes into a generated script. The tables are checked against the
 * commands pmoe has (pmoeProgram), so a new command or option of one of these kinds fails the
 * suite until it is classified here, and then inherits its checks.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import type { Command, Option } from 'commander';
import { pmoeProgram } from '../../src/cli/main.js';

/** A command by its words after `pmoe` (`cluster slurm`), with its options. */
export interface CommandOptions {
  readonly name: string;
  readonly options: readonly Option[];
  readonly command: Command;
}

/** Every runnable command of pmoe, subcommands included. */
export function pmoeCommands(): CommandOptions[] {
  const found: CommandOptions[] = [];
  const walk = (command: Command, prefix: string) => {
    for (const sub of command.commands) {
      const name = `${prefix}${sub.name()}`;
      if (sub.commands.length > 0) walk(sub, `${name} `);
      else found.push({ name, options: sub.options, command: sub });
    }
  };
  walk(pmoeProgram(['node', 'pmoe']), '');
  return found;
}

/**
 * What each option naming a path does with it:
 * - `append`: a file that a record is appended to;
 * - `results`: a results file, which a sweep (or merge) rewrites;
 * - `generated`: a file the command writes whole (replacing only one it wrote itself);
 * - `folder`: a folder the command writes files into;
 * - `input`: read only; `remote`: a path on the machines a job runs on (only its logs/ folder is made here).
 */
export type PathUse = 'append' | 'results' | 'generated' | 'folder' | 'input' | 'remote';

export const PATH_OPTIONS: Readonly<Record<string, PathUse>> = {
  'train --out': 'append',
  'train --save-model': 'folder',
  'train --log-dir': 'folder',
  'reproduce --out': 'results',
  'reproduce --log-dir': 'folder',
  'scaling --out': 'results',
  'scaling --report-dir': 'folder',
  'scaling-regimes --results-dir': 'folder',
  'scaling-regimes --report-dir': 'folder',
  'report --out': 'folder',
  'report --routing-model': 'input',
  'report --log-dir': 'input',
  'merge --out': 'results',
  'cluster slurm --out': 'generated',
  'cluster slurm --workdir': 'remote',
  'cluster k8s --out': 'generated',
  'cluster k8s --workdir': 'remote',
  'serve --model': 'input',
};

/** Whether an option's value names a path: `<file>`, `<dir>`. */
export const takesPath = (option: Option) => /<(file|dir)>/.test(option.flags);

/**
 * Whether an option's value is parsed as a number or a list of numbers (or a number or a word, as
 * `--patches-per-expert <l>`): any option with a parser but fixed choices or `--set`'s key=value.
 */
export const takesNumber = (option: Option) => option.parseArg !== undefined && option.argChoices === undefined && !option.flags.includes('<key=value>');

/** Texts that go into a generated file as given: the options with a value that is neither a number nor one of fixed choices. */
export const takesText = (option: Option) => option.required && option.argChoices === undefined && !takesNumber(option);

/** How each file-writing command is run against `target`, with whatever else it needs in `dir`. */
export function writeFileCommand(key: string, target: string, dir: string, inputs: { results: string }): string[] {
  switch (key) {
    case 'train --out':
      return ['train', '--train-size', '20', '--test-size', '20', '--epochs', '1', '--out', target];
    case 'reproduce --out':
      return ['reproduce', 'fig4', '--quick', '--out', target];
    case 'scaling --out':
      return ['scaling', '--quick', '--out', target, '--report-dir', `${dir}/report`];
    case 'merge --out':
      return ['merge', inputs.results, '--out', target];
    case 'cluster slurm --out':
      return ['cluster', 'slurm', 'fig4', '--tasks', '2', '--workdir', dir, '--out', target];
    case 'cluster k8s --out':
      return ['cluster', 'k8s', 'fig4', '--tasks', '2', '--out', target];
    default:
      throw new Error(`no command line for ${key}`);
  }
}

/**
 * How each folder-writing command is run into `folder`, and the first file it would write there
 * (the suite makes that file a named pipe); undefined for a folder of files named at run time only.
 */
export function writeFolderCommand(key: string, folder: string, inputs: { results: string }): { args: string[]; file: string } | undefined {
  switch (key) {
    case 'train --save-model':
      return { args: ['train', '--train-size', '20', '--test-size', '20', '--epochs', '1', '--save-model', folder], file: 'pmoe-model.json' };
    case 'report --out':
      return { args: ['report', inputs.results, '--out', folder], file: 'index.html' };
    case 'scaling --report-dir':
      return { args: ['scaling', '--quick', '--report-only', '--out', inputs.results, '--report-dir', folder], file: 'scaling.md' };
    case 'scaling-regimes --report-dir':
      return { args: ['scaling-regimes', '--quick', '--report-only', '--results-dir', folder, '--report-dir', folder], file: 'scaling-regimes-quick.svg' };
    case 'scaling-regimes --results-dir':
      return {
        args: ['scaling-regimes', '--quick', '--set', 'regimes=["baseline"]', '--results-dir', folder, '--report-dir', `${folder}-report`],
        file: 'scaling-regimes-baseline-quick.jsonl',
      };
    // Log files are named after the run (its key, its start time): nothing to plant in advance; appendToFile checks each.
    case 'train --log-dir':
    case 'reproduce --log-dir':
      return undefined;
    default:
      throw new Error(`no command line for ${key}`);
  }
}

/** A named pipe at `path` (mkfifo). */
export function makeFifo(path: string): void {
  execFileSync('mkfifo', [path]);
}

/** A Unix socket bound at `path`, listening; close the server when done. */
export function makeSocket(path: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(path, () => resolve(server));
  });
}

/** Files that are not results files, which no command that rewrites results files may touch. */
export const NOT_RESULTS_FILES: Readonly<Record<string, string>> = {
  'a README': '# Notes\n\nThese are my notes on the sweep.\n',
  "a report's JSON": `${JSON.stringify({ experiment: 'fig4', points: [{ x: 100, y: 0.9 }] }, null, 2)}\n`,
  'a file of pmoe train --out records': `${JSON.stringify({ data: { source: 'synthetic', trainSize: 20 }, model: {}, training: { model: 'joint', epochs: 1 }, epochs: [] })}\n`,
};
