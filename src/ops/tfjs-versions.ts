import { version_core } from '@tensorflow/tfjs-core';
import { version_layers } from '@tensorflow/tfjs-layers';

/**
 * The TensorFlow.js release pmoe is built against. pmoe's kernels read private parts of tfjs-core
 * and the wasm backend (the wasm heap, tensor data ids, kernel registrations), which change
 * between releases, so the peer dependencies are pinned to this exact version.
 */
export const TFJS_VERSION = '4.22.0';

/** Thrown when an installed tfjs package is not the release pmoe reads the internals of. */
export class TfjsVersionError extends Error {
  override name = 'TfjsVersionError';
}

/** Throws a TfjsVersionError naming each package (`name` → installed version) that is not TFJS_VERSION. */
export function checkTfjsVersions(installed: Readonly<Record<string, string>>): void {
  const wrong = Object.entries(installed).filter(([, version]) => version !== TFJS_VERSION);
  if (wrong.length === 0) return;
  const found = wrong.map(([name, version]) => `${name} ${version}`).join(', ');
  throw new TfjsVersionError(
    `pmoe needs TensorFlow.js ${TFJS_VERSION} (its kernels read that release's internals); found ${found}. ` +
      `Install ${wrong.map(([name]) => `${name}@${TFJS_VERSION}`).join(' ')}`,
  );
}

/** The versions of tfjs-core and tfjs-layers this process loaded. */
export function coreTfjsVersions(): Record<string, string> {
  return { '@tensorflow/tfjs-core': version_core, '@tensorflow/tfjs-layers': version_layers };
}
