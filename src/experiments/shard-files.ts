import type { Shard } from './shard.js';

/**
 * Where a shard writes by default: `results/<name>.shard-<i>-of-<N>.jsonl`. Each shard has its own
 * file, so machines that share a folder never append to one file (`pmoe merge` joins them).
 */
export function shardResultsPath(name: string, shard: Shard | undefined, folder = 'results'): string {
  return `${folder}/${name}${shard ? `.shard-${shard.index}-of-${shard.count}` : ''}.jsonl`;
}

/** The shard a results file's name says it holds (`fig4.shard-3-of-8.jsonl`); undefined for other names. */
export function shardOfPath(path: string): Shard | undefined {
  const match = /\.shard-(\d+)-of-(\d+)\.jsonl$/.exec(path);
  if (!match) return undefined;
  const shard = { index: Number(match[1]), count: Number(match[2]) };
  return shard.index >= 1 && shard.index <= shard.count ? shard : undefined;
}
