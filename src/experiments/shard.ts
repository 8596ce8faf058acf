import { createHash } from 'node:crypto';
import { canonicalJson } from '../util/canonical-json.js';

/** Which part of a sweep this process runs: shard `index` (1-based) of `count`. */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

export function parseShard(text: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = match ? Number(match[1]) : NaN;
  const count = match ? Number(match[2]) : NaN;
  if (!match || count < 1 || index < 1 || index > count) {
    throw new RangeError(`--shard must be i/N with 1 <= i <= N (for example 2/4); got '${text}'`);
  }
  return { index, count };
}

/** The identity of a run: a hash of its canonical spec. */
export function runKey(spec: unknown): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex').slice(0, 16);
}

/** The runs of shard i of N: every N-th run by key order, so shards split any sweep the same way on every machine. */
export function inShard<T extends { key: string }>(runs: readonly T[], shard: Shard): T[] {
  const ordered = [...runs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return ordered.filter((_, position) => position % shard.count === shard.index - 1);
}
