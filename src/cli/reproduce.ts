import { resolve } from 'node:path';
import type { BackendName } from '../engine/backend.js';
import { experimentByName } from '../experiments/registry.js';
import { parseShard } from '../experiments/shard.js';
import { runSweep, type SweepResult } from '../experiments/sweep.js';
import { OptionError, parseOptions } from '../util/options.js';
import { startProgress } from './progress.js';
import { EPOCH_LOG_DIR_VARIABLE } from '../experiments/sweep-worker-env.js';

export interface ReproduceOptions {
  quick?: boolean;
  jobs?: number;
  shard?: string;
  out?: string;
  backend: BackendName;
  /** `key=value` overrides of the experiment's options; values are JSON (numbers, lists) or plain text. */
  set: string[];
  json?: boolean;
  /** Folder of per-epoch logs, one `<run key>.jsonl` and `.csv` per run. */
  logDir?: string;
}

/** `--set key=value` pairs as an options object; values are JSON where they parse, text otherwise. */
export function parseOverrides(pairs: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      if (at < 1) throw new OptionError(`--set takes key=value (for example seeds=2 or sizes=[100,500]); got '${pair}'`);
      const key = pair.slice(0, at);
      const text = pair.slice(at + 1);
      try {
        return [key, JSON.parse(text)];
      } catch (error) {
        // Text that starts like a list, object or string must be JSON; other text is plain (init=code).
        if (/^\s*[[{"]/.test(text)) {
          throw new OptionError(`--set ${key}: '${text}' is not valid JSON (${(error as Error).message}); write lists as [100,500]`);
        }
        return [key, text];
      }
    }),
  );
}

/** `pmoe reproduce <name>`: expands a named experiment into runs and sweeps them, resumably. */
export async function reproduce(name: string, options: ReproduceOptions): Promise<SweepResult & { resultsPath: string; runs: number }> {
  const experiment = experimentByName(name);
  const settings = parseOptions(experiment.schema, { ...(options.quick ? experiment.quick : {}), ...parseOverrides(options.set) }, name);
  const specs = experiment.specs(settings);
  const shard = options.shard ? parseShard(options.shard) : undefined;
  const resultsPath = options.out ?? `results/${name}${options.quick ? '-quick' : ''}${shard ? `.shard${shard.index}of${shard.count}` : ''}.jsonl`;
  // The sweep's worker processes inherit the environment: this is how they learn where to log.
  if (options.logDir !== undefined) process.env[EPOCH_LOG_DIR_VARIABLE] = resolve(options.logDir);
  const progress = startProgress(specs.length, name, options.json === true && !process.stderr.isTTY);
  const result = await runSweep(specs, {
    experiment: name,
    resultsPath,
    jobs: options.jobs,
    shard,
    backend: options.backend,
    onProgress: (p) => progress.update(p.done, `${p.label}${Number.isFinite(p.etaSeconds) ? ` eta ${Math.round(p.etaSeconds)} s` : ''}`),
  });
  progress.stop();
  return { ...result, resultsPath, runs: specs.length };
}
