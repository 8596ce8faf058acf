/** The `pmoe` command as a user runs it, for the end-to-end tests. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const BIN = fileURLToPath(new URL('../../../bin/pmoe.js', import.meta.url));
export const REPO = fileURLToPath(new URL('../../..', import.meta.url));
export const WEB = join(REPO, 'web');

export async function pmoe(...args: string[]): Promise<string> {
  return pmoeIn(process.cwd(), ...args);
}

export async function pmoeIn(cwd: string, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await run(process.execPath, [BIN, ...args], { cwd, timeout: 120_000, maxBuffer: 16 << 20 });
    return stdout;
  } catch (error) {
    const failed = error as { stderr?: string; message: string };
    throw new Error(`pmoe ${args.join(' ')} failed: ${failed.stderr || failed.message}`, { cause: error });
  }
}

/** A tiny joint pMoE on MNIST-patch (seconds): N = 40 training images, `testSize` test images. */
export async function trainTinyModel(dir: string, testSize = 40): Promise<string> {
  await pmoe('train', '--data', 'mnist-patch', '--train-size', '40', '--test-size', String(testSize), '--epochs', '2', '--seed', '3', '--save-model', dir);
  return join(dir, 'pmoe-model.json');
}

export interface Served {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** `pmoe serve --port 0 ...` in a child process; resolves with the URL it prints. */
export function serve(...args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`pmoe serve printed no URL within 30 s: ${output}`));
    }, 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /serving (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1], child, stop });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`pmoe serve exited (${code}) before serving: ${output}`));
    });
  });
}
