/** What the kill tests write: file versions that prove themselves complete, and result lines. */
import { createHash } from 'node:crypto';
import type { ResultLine } from '../../src/experiments/results-file.js';
import { runKey } from '../../src/experiments/shard.js';

/** Version k of the rewritten file: a header naming k and the hash of a body of up to 600 KB. */
export function fileVersion(k: number): string {
  const body = `${k} `.repeat(1 + ((k * 7919) % 600_000) / `${k} `.length);
  return `${k} ${createHash('sha256').update(body).digest('hex')}\n${body}`;
}

/** The version a file holds, or null when it is not a complete version. */
export function versionOf(text: string): number | null {
  const newline = text.indexOf('\n');
  const [k, hash] = text.slice(0, newline).split(' ');
  const body = text.slice(newline + 1);
  return newline > 0 && createHash('sha256').update(body).digest('hex') === hash ? Number(k) : null;
}

/** Result line k: a failed run whose error text is 100 bytes to 200 KB, so some writes span many pages. */
export function resultLine(k: number): ResultLine {
  const spec = { data: { source: 'synthetic', trainSize: k + 1 } } as const;
  return { key: runKey(spec), experiment: 'kill-test', status: 'failed', spec, error: 'x'.repeat(100 + ((k * 104_729) % 200_000)) };
}
