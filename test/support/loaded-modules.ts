/**
 * Which files a Node process loads when it imports one module: ES modules through a resolve hook
 * (module.register), CommonJS ones through require.cache. Used by the packaging tests to check
 * that the core entry stays light.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const HOOKS = new URL('./record-resolve-hooks.js', import.meta.url).href;

/**
 * Runs `node` in `cwd`, imports `specifier` there, and returns every file path it loaded (ESM and
 * CommonJS, without node: built-ins). Throws with the child's stderr when the import fails.
 */
export function modulesLoadedBy(specifier: string, cwd: string): string[] {
  const script = `
    import { register, createRequire } from 'node:module';
    import { writeSync } from 'node:fs';
    const { port1, port2 } = new MessageChannel();
    const esm = new Set();
    port1.on('message', (url) => esm.add(url));
    register(${JSON.stringify(HOOKS)}, { data: { port: port2 }, transferList: [port2] });
    await import(${JSON.stringify(specifier)});
    await new Promise((resolve) => setTimeout(resolve, 50)); // the hook thread's last messages
    port1.close();
    const cjs = Object.keys(createRequire(import.meta.url).cache);
    writeSync(1, JSON.stringify([...esm, ...cjs]));
  `;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd, encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0) throw new Error(`importing ${specifier} in ${cwd} failed (exit ${result.status}): ${result.stderr}`);
  const entries = JSON.parse(result.stdout) as string[];
  return [...new Set(entries.filter((entry) => !entry.startsWith('node:')).map((entry) => (entry.startsWith('file:') ? fileURLToPath(entry) : entry)))];
}

/** The npm package a loaded file belongs to (its last node_modules segment), or undefined for files outside node_modules. */
export function packageOf(path: string): string | undefined {
  const match = /.*node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(path);
  return match?.[1].replace(/\\/g, '/');
}
