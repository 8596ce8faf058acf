/**
 * How far a sweep has come: its planned runs against the lines of its results files, per shard.
 *
 * A results file holds run keys, not the settings that planned them, so the plan is rebuilt from
 * candidate settings (the experiment's defaults and its --quick version, or the overrides the user
 * names) and the candidate that holds the most of the files' runs is taken.
 *
 * The scaling experiment is adaptive: its next runs depend on the last round's results. Its plan is
 * replayed from the files (ScalingDriverOptions.runSpecs reads lines instead of training), and
 * "missing" are the runs of the first round the files do not complete.
 */
import { basename } from 'node:path';
import type { RunSpec } from '../training/run.js';
import { parseOptions } from '../util/options.js';
import { EXPERIMENTS } from './registry.js';
import type { ResultLine } from './results-file.js';
import { runScaling, SCALING_EXPERIMENT, SCALING_QUICK, scalingSchema, type ScalingOptions, type SpecRunner } from './scaling.js';
import { inShard, runKey, type Shard } from './shard.js';
import { REGIME_NAMES, regimeSettings } from './scaling-regimes.js';

type StatusLine = Pick<ResultLine, 'key' | 'experiment' | 'status'>;

/** One results file's lines and the shard its name says it holds (none: any runs of the sweep). */
export interface StatusInput {
  readonly path: string;
  readonly shard?: Shard;
  readonly lines: readonly StatusLine[];
}

export interface RunCounts {
  /** null where the plan is unknown. */
  readonly planned: number | null;
  readonly done: number;
  readonly failed: number;
  /** Planned runs with no line; for scaling, the runs of the round the files leave unfinished. */
  readonly missing: number;
}

export interface ShardStatus extends RunCounts {
  /** undefined: files that are not one shard (a merged or unsharded file). */
  readonly shard?: Shard;
  readonly files: readonly string[];
}

export interface ExperimentStatus extends RunCounts {
  readonly experiment: string;
  /** The sweep: its results files' name without shard suffix and `.jsonl` (`fig4`, `fig4-quick`, `scaling-regimes-noise-low`). */
  readonly sweep: string;
  /** Which settings' plan the runs match: 'default', 'quick', 'given' (--set/--quick), or null when none. */
  readonly settings: string | null;
  /** Lines whose run is not in that plan. */
  readonly unplanned: number;
  readonly adaptive: boolean;
  readonly shards: readonly ShardStatus[];
}

/** The settings to try: the user's, else the defaults and the quick version. */
export interface PlanChoice {
  readonly quick?: boolean;
  readonly overrides?: Readonly<Record<string, unknown>>;
}

interface Candidate {
  readonly label: string;
  readonly settings: Record<string, unknown>;
}

function userChose(choice: PlanChoice): boolean {
  return choice.quick === true || (choice.overrides !== undefined && Object.keys(choice.overrides).length > 0);
}

function candidates(quickSettings: Record<string, unknown>, choice: PlanChoice): Candidate[] {
  if (userChose(choice)) return [{ label: 'given', settings: { ...(choice.quick ? quickSettings : {}), ...choice.overrides } }];
  return [
    { label: 'default', settings: {} },
    { label: 'quick', settings: quickSettings },
  ];
}

/** The sweep a results file belongs to: its name without folder, shard suffix and `.jsonl`. */
export function sweepOfPath(path: string): string {
  return basename(path).replace(/(\.shard-\d+-of-\d+)?\.jsonl$/, '');
}

/** Latest line per key, a success beating a failure (a rerun that succeeded did finish). */
function outcomes(lines: readonly StatusLine[]): Map<string, 'ok' | 'failed'> {
  const byKey = new Map<string, 'ok' | 'failed'>();
  for (const line of lines) if (byKey.get(line.key) !== 'ok') byKey.set(line.key, line.status);
  return byKey;
}

function count(planned: readonly string[], lines: readonly StatusLine[]): RunCounts {
  const byKey = outcomes(lines);
  let done = 0;
  let failed = 0;
  for (const key of planned) {
    const status = byKey.get(key);
    if (status === 'ok') done++;
    else if (status === 'failed') failed++;
  }
  return { planned: planned.length, done, failed, missing: planned.length - done - failed };
}

/** Rows: one per shard index of every shard count seen (those with no file too), then unsharded files. */
function shardRows(inputs: readonly StatusInput[]): { shard?: Shard; inputs: StatusInput[] }[] {
  const rows: { shard?: Shard; inputs: StatusInput[] }[] = [];
  const counts = [...new Set(inputs.flatMap((input) => (input.shard ? [input.shard.count] : [])))].sort((a, b) => a - b);
  for (const count of counts) {
    for (let index = 1; index <= count; index++) {
      rows.push({ shard: { index, count }, inputs: inputs.filter((input) => input.shard?.count === count && input.shard.index === index) });
    }
  }
  const whole = inputs.filter((input) => !input.shard);
  if (whole.length > 0) rows.push({ inputs: whole });
  return rows;
}

function fixedStatus(experiment: string, sweep: string, inputs: readonly StatusInput[], choice: PlanChoice): ExperimentStatus {
  const definition = EXPERIMENTS[experiment];
  const all = inputs.flatMap((input) => input.lines);
  const keys = new Set(all.map((line) => line.key));
  let best: { label: string; plan: { key: string }[]; held: number } | undefined;
  for (const candidate of candidates(definition.quick as Record<string, unknown>, choice)) {
    const specs: RunSpec[] = definition.specs(parseOptions(definition.schema, candidate.settings, experiment));
    const plan = [...new Set(specs.map(runKey))].map((key) => ({ key }));
    const held = plan.filter(({ key }) => keys.has(key)).length;
    if (!best || held > best.held) best = { label: candidate.label, plan, held };
  }
  // Settings the user named are trusted even when no run matches them (then every run is unplanned).
  const known = best !== undefined && (best.held > 0 || keys.size === 0 || best.label === 'given');
  const plan = known ? best!.plan : [];
  const shards = shardRows(inputs).map(({ shard, inputs: files }) => {
    const lines = files.flatMap((input) => input.lines);
    const planned = shard ? inShard(plan, shard) : plan;
    const counts = known
      ? count(
          planned.map(({ key }) => key),
          lines,
        )
      : unplannedCounts(lines);
    return { shard, files: files.map((input) => input.path), ...counts };
  });
  const planKeys = new Set(plan.map(({ key }) => key));
  return {
    experiment,
    sweep,
    settings: known ? best!.label : null,
    ...(known ? count([...planKeys], all) : unplannedCounts(all)),
    unplanned: [...keys].filter((key) => !planKeys.has(key)).length,
    adaptive: false,
    shards,
  };
}

/** Counts of lines whose plan is unknown. */
function unplannedCounts(lines: readonly StatusLine[]): RunCounts {
  const statuses = [...outcomes(lines).values()];
  return { planned: null, done: statuses.filter((s) => s === 'ok').length, failed: statuses.filter((s) => s === 'failed').length, missing: 0 };
}

class RunsMissing extends Error {
  constructor(readonly runs: number) {
    super('runs missing');
  }
}

/** Replays the bisections of `shard`'s cells from the lines; the counts of what the replay used and lacked. */
async function replayScaling(settings: ScalingOptions, shard: Shard | undefined, lines: readonly StatusLine[]): Promise<RunCounts & { used: Set<string> }> {
  const byKey = new Map<string, StatusLine>();
  for (const line of lines) if (byKey.get(line.key)?.status !== 'ok') byKey.set(line.key, line);
  const used = new Set<string>();
  const runSpecs: SpecRunner = async (specs) => {
    const keys = specs.map(runKey);
    const missing = keys.filter((key) => !byKey.has(key)).length;
    for (const key of keys) if (byKey.has(key)) used.add(key);
    if (missing > 0) throw new RunsMissing(missing);
    return { lines: keys.map((key) => byKey.get(key)!) as ResultLine[], ran: 0 };
  };
  let missing = 0;
  try {
    await runScaling(settings, { runSpecs, shard });
  } catch (error) {
    if (!(error instanceof RunsMissing)) throw error;
    missing = error.runs;
  }
  const counts = count([...used], lines);
  return { ...counts, planned: used.size + missing, missing, used };
}

/** A `pmoe scaling-regimes` sweep's own settings, read from its file name (`scaling-regimes-<regime>[-quick]`). */
function regimeCandidate(sweep: string): { label: string; settings: ScalingOptions } | undefined {
  const match = /^scaling-regimes-(.+?)(-quick)?$/.exec(sweep);
  if (!match || !REGIME_NAMES.includes(match[1])) return undefined;
  const [{ settings }] = regimeSettings({ regimes: [match[1]] }, match[2] !== undefined);
  return { label: `regime ${match[1]}${match[2] ? ', quick' : ''}`, settings };
}

async function scalingStatus(sweep: string, inputs: readonly StatusInput[], choice: PlanChoice): Promise<ExperimentStatus> {
  const all = inputs.flatMap((input) => input.lines);
  const keys = new Set(all.map((line) => line.key));
  let best: { label: string; settings: ScalingOptions; used: number } | undefined;
  const regime = userChose(choice) ? undefined : regimeCandidate(sweep);
  const tried = regime
    ? [regime]
    : candidates(SCALING_QUICK as Record<string, unknown>, choice).map((c) => ({
        label: c.label,
        settings: parseOptions(scalingSchema, c.settings, SCALING_EXPERIMENT),
      }));
  for (const { label, settings } of tried) {
    const candidate = { label };
    const { used } = await replayScaling(settings, undefined, all);
    if (!best || used.size > best.used) best = { label: candidate.label, settings, used: used.size };
  }
  const known = best !== undefined && (best.used > 0 || keys.size === 0 || best.label === 'given' || regime !== undefined);
  const shards: ShardStatus[] = [];
  const usedKeys = new Set<string>();
  for (const { shard, inputs: files } of shardRows(inputs)) {
    const lines = files.flatMap((input) => input.lines);
    let counts: RunCounts = unplannedCounts(lines);
    if (known) {
      const { used, ...replayed } = await replayScaling(best!.settings, shard, lines);
      for (const key of used) usedKeys.add(key);
      counts = replayed;
    }
    shards.push({ shard, files: files.map((input) => input.path), ...counts });
  }
  const total = shards.reduce(
    (sum, row) => ({
      planned: sum.planned + (row.planned ?? 0),
      done: sum.done + row.done,
      failed: sum.failed + row.failed,
      missing: sum.missing + row.missing,
    }),
    { planned: 0, done: 0, failed: 0, missing: 0 },
  );
  return {
    experiment: SCALING_EXPERIMENT,
    sweep,
    settings: known ? best!.label : null,
    ...(known ? total : unplannedCounts(all)),
    unplanned: [...keys].filter((key) => !usedKeys.has(key)).length,
    adaptive: true,
    shards,
  };
}

/**
 * The status of every sweep in the inputs: one per experiment and results file name (shards of one
 * sweep together), in name order, so that a `--quick` sweep beside the full one, or each regime of
 * `pmoe scaling-regimes`, has its own plan. The scaling rows are replays, so a shard row and an
 * unsharded row of the same runs each count them.
 */
export async function sweepStatus(inputs: readonly StatusInput[], choice: PlanChoice = {}): Promise<ExperimentStatus[]> {
  const groups = new Map<string, { experiment: string; sweep: string; inputs: StatusInput[] }>();
  for (const input of inputs) {
    const sweep = sweepOfPath(input.path);
    for (const experiment of new Set(input.lines.map((line) => line.experiment))) {
      const id = `${experiment}\u0000${sweep}`;
      if (!groups.has(id)) groups.set(id, { experiment, sweep, inputs: [] });
      // Each input keeps its shard but only this experiment's lines.
      groups.get(id)!.inputs.push({ ...input, lines: input.lines.filter((line) => line.experiment === experiment) });
    }
  }
  const ordered = [...groups.values()].sort(
    (a, b) => a.experiment.localeCompare(b.experiment, 'en', { numeric: true }) || a.sweep.localeCompare(b.sweep, 'en', { numeric: true }),
  );
  const statuses: ExperimentStatus[] = [];
  for (const { experiment, sweep, inputs: own } of ordered) {
    if (experiment === SCALING_EXPERIMENT) statuses.push(await scalingStatus(sweep, own, choice));
    else if (experiment in EXPERIMENTS) statuses.push(fixedStatus(experiment, sweep, own, choice));
    else {
      const all = own.flatMap((input) => input.lines);
      statuses.push({
        experiment,
        sweep,
        settings: null,
        ...unplannedCounts(all),
        unplanned: new Set(all.map((l) => l.key)).size,
        adaptive: false,
        shards: shardRows(own).map(({ shard, inputs: files }) => ({
          shard,
          files: files.map((f) => f.path),
          ...unplannedCounts(files.flatMap((f) => f.lines)),
        })),
      });
    }
  }
  return statuses;
}
