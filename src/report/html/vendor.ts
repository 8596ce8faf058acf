/**
 * The browser builds of Vega, Vega-Lite and vega-embed, read from node_modules so the HTML report
 * can inline them: the page then draws its figures offline, from file://, with nothing fetched.
 */
import { access, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface VendorScript {
  readonly name: string;
  readonly version: string;
  readonly code: string;
}

const require = createRequire(import.meta.url);

/**
 * The folder of an installed package that holds `file`, found by climbing from its resolved entry
 * point (some packages export no package.json; vega-lite has a second one in build/).
 */
async function packageDir(name: string, file: string): Promise<{ dir: string; version: string }> {
  let dir = dirname(require.resolve(name));
  for (;;) {
    try {
      const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === name && manifest.version) {
        await access(join(dir, file));
        return { dir, version: manifest.version };
      }
    } catch {
      // no package.json here, or not the package root: keep climbing
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the installed package ${name} (run npm install)`);
    dir = parent;
  }
}

/** The minified UMD builds, in load order: vega, then vega-lite (needs vega), then vega-embed (needs both). */
const BUILDS = [
  { name: 'vega', file: 'build/vega.min.js' },
  { name: 'vega-lite', file: 'build/vega-lite.min.js' },
  { name: 'vega-embed', file: 'build/vega-embed.min.js' },
] as const;

let cached: Promise<VendorScript[]> | undefined;

export function vendorScripts(): Promise<VendorScript[]> {
  cached ??= Promise.all(
    BUILDS.map(async ({ name, file }) => {
      const { dir, version } = await packageDir(name, file);
      return { name, version, code: await readFile(join(dir, file), 'utf8') };
    }),
  );
  return cached;
}

/**
 * Script text that is safe inside an HTML <script> element: `</script` would end the element and
 * `<!--` can switch the parser into an escaped state. Both are rewritten to the same JavaScript
 * (`<\/` and `<\!` mean `</` and `<!` in strings and regular expressions).
 */
export function inlineScriptText(code: string): string {
  return code.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

/** JSON inside <script type="application/json">: no `<` at all, so nothing can close the element. */
export function inlineJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}
