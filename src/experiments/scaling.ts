/**
 * The sample-complexity law (docs/paper.md §4): how many training samples the CNN and pMoE need as n/l
 * grows. The theory's sufficient sample counts are l^8 (separate pMoE, l >= l*) and n^8 (CNN), so
 * N_CNN / N_separate = Theta((n/l)^8); those are upper bounds, not tight ones.
 *
 * For every cell (model, n, l) of a grid, a bisection over the training-set size N (log scale,
 * ../analysis/bisection.ts) finds the smallest N at which the final test accuracy reaches
 * `targetAccuracy` in at least `requiredShare` of `seeds` runs. The CNN has no l: one cell per n.
 *
 *   pmoe scaling                  the whole grid (n = 8..64, l = 1..8, 5 seeds)
 *   pmoe scaling --quick          a reduced grid that finishes in minutes
 *
 * The driver works in rounds: each round asks every open bisection for its next N, runs every
 * seed of those N in one sweep (`runSweep`, one results file), then records the shares. A killed
 * run resumes: finished runs are skipped by key, and the bisections replay deterministically from
 * their records.
 *
 * Defaults (chosen so the problem is not trivial yet each run takes about a second on one core):
 * - Data: the paper's synthetic model with d = 16, p = 8 pattern sets, delta_d = 0.3,
 *   delta_r = 0.15, noise 0.5, confusers 0, 500 test samples; run seed s draws the patterns and
 *   samples (data seed s) and the initialisation (training seed s). delta_r = 0.15 is below
 *   (1 - delta_d) / 4 = 0.175, so |<o_1 - o_2, q>| <= 2 delta_r < (1 - delta_d) / 2 for every
 *   irrelevant patch q: none is delta'-close and l* = 1 by construction, whatever the noise. (With
 *   the generator's default delta_r = 0.6, noise 0.5 makes a few far patches delta'-close, and the
 *   data drawn at n = 32 had l* = 4 to 5, breaking the premise l >= l* for small l.) Noise 0.5
 *   spreads each irrelevant set enough that the CNN's need grows with n.
 * - Models of equal width m = 16: CNN 16 neurons; separate pMoE 2 experts x 8 neurons (hard
 *   gates); joint pMoE 4 experts x 4 neurons (softmax over the selected l, the paper's gate).
 * - A fixed budget of SGD steps per run (400, batch 20): epochs = ceil(steps / batches per epoch),
 *   so every N gets the same optimisation and N measures data, not iterations. Test accuracy is
 *   read once, after the last epoch.
 * - Learning rate 0.25 times the number of patches a model pools over (n for the CNN, l for pMoE):
 *   the models average over those patches (1/n, 1/l), which shrinks their gradients by the same
 *   factor; scaling it back keeps a fixed step budget from favouring small n (set
 *   learningRateScaling=none for a plain learning rate).
 * - Separate training's router phase: 10 epochs (its loss is linear, so the router direction is
 *   set after the first epochs and only its length keeps growing).
 * - Joint pMoE skips l = 1 with the paper's gate (softmax over the selected l): a softmax over one
 *   score is always 1, so the router gets no gradient and never learns (use jointGate=softmax-all
 *   to include it).
 * - Bisection over N in [8, 2048] with relative tolerance 0.25 (the reported N is at most 25%
 *   above the smallest N that succeeds); 95% test accuracy in >= 80% of 5 seeds (4 of 5).
 * - Cells keep l >= l* and l <= n, with l* taken as 1 + confusers (the most near patches a sample
 *   can have); the records carry the l* of the data actually drawn.
 */
import { Bisection, type ThresholdResult } from '../analysis/bisection.js';
import type { RunSpec } from '../training/run.js';
import type { ResultLine } from './results-file.js';
import { inShard, runKey, type Shard } from './shard.js';
import { canonicalJson } from '../util/canonical-json.js';
import { runSweep, type SweepProgress } from './sweep.js';
import type { BackendName } from '../engine/backend.js';
import { MODEL_KINDS } from '../models/build.js';
import { cellLabel, SCALING_EXPERIMENT, scalingCells, scalingSpec, type ScalingCell, type ScalingOptions, type SkippedCell } from './scaling-plan.js';

// The grid, its options and its runs (no sweep): ./scaling-plan.ts, which the registry's experiments may import.
export * from './scaling-plan.js';

/** The cells of one shard: every N-th by label, so every machine splits a grid the same way. */
export function shardCells(cells: readonly ScalingCell[], shard: Shard): ScalingCell[] {
  return inShard(
    cells.map((cell) => ({ key: cellLabel(cell), cell })),
    shard,
  ).map(({ cell }) => cell);
}

/** Where a run sits in a scaling sweep, read back from its spec; null for a spec of another shape. */
export interface ScalingRunInfo {
  readonly cell: ScalingCell;
  readonly trainSize: number;
  readonly seed: number;
  /**
   * Everything in the spec that is the same for every run of one protocol (not N, seed, epochs, n,
   * l or the learning rate, which depend on them): runs with different protocols must not be pooled.
   */
  readonly protocol: string;
  readonly epochs: number | null;
  readonly learningRate: number | null;
}

export function scalingRunInfo(spec: RunSpec): ScalingRunInfo | null {
  if ('kind' in spec || spec.data.source !== 'synthetic' || spec.data.n === undefined) return null;
  const model = spec.training?.model ?? 'joint';
  if (!(MODEL_KINDS as readonly string[]).includes(model)) return null;
  const l = model === 'cnn' ? null : spec.model?.patchesPerExpert;
  if (l === undefined) return null;
  const { trainSize, seed: dataSeed, n, ...data } = spec.data;
  const { patchesPerExpert, ...modelRest } = spec.model ?? {};
  const { epochs, learningRate, seed, evalEvery, ...training } = spec.training ?? {};
  void dataSeed;
  void patchesPerExpert;
  void evalEvery;
  return {
    cell: { model, n, l },
    trainSize,
    seed: seed ?? 0,
    protocol: canonicalJson({ data, model: modelRest, training }),
    epochs: epochs ?? null,
    learningRate: learningRate ?? null,
  };
}

/** Whether a finished line reached the target; a failed run (diverged, crashed) did not. */
export function reachedTarget(line: Pick<ResultLine, 'status'> & { record?: { finalTestAccuracy: number | null } }, targetAccuracy: number): boolean {
  if (line.status !== 'ok') return false;
  const accuracy = line.record?.finalTestAccuracy;
  return typeof accuracy === 'number' && Number.isFinite(accuracy) && accuracy >= targetAccuracy;
}

// ---------------------------------------------------------------------------------------------
// The driver

/** Runs specs and returns their finished lines (in any order; matched by key). */
export type SpecRunner = (specs: readonly RunSpec[], round: number) => Promise<{ readonly lines: readonly ResultLine[]; readonly ran: number }>;

/**
 * The default runner: `runSweep` into one results file, resumable. With `resultsLocked` the caller
 * holds the file's lock for all rounds, so no other sweep can slip in between two of them.
 */
export function sweepRunner(options: {
  resultsPath: string;
  resultsLocked?: boolean;
  jobs?: number;
  backend?: BackendName;
  onProgress?: (round: number, progress: SweepProgress) => void;
}): SpecRunner {
  return (specs, round) =>
    runSweep(specs, {
      experiment: SCALING_EXPERIMENT,
      resultsPath: options.resultsPath,
      resultsLocked: options.resultsLocked,
      jobs: options.jobs,
      backend: options.backend,
      onProgress: (progress) => options.onProgress?.(round, progress),
    });
}

/** One N tried for a cell: its seeds' outcomes. */
export interface ScalingEvaluation {
  readonly trainSize: number;
  readonly runs: number;
  readonly successes: number;
  readonly share: number;
  /** Mean final test accuracy of the finished runs (NaN when none finished). */
  readonly meanAccuracy: number;
  readonly failedRuns: number;
}

export interface ScalingCellResult {
  readonly cell: ScalingCell;
  readonly label: string;
  readonly result: ThresholdResult;
  readonly evaluations: readonly ScalingEvaluation[];
  /** Largest l* over the cell's records (synthetic data report it). */
  readonly lStar: number | null;
}

export interface ScalingRound {
  readonly round: number;
  /** The N each open cell asked for. */
  readonly queries: readonly { readonly label: string; readonly trainSize: number }[];
  readonly runs: number;
  /** Runs executed in this round (the rest were in the results file). */
  readonly ran: number;
}

export interface ScalingOutcome {
  readonly settings: ScalingOptions;
  readonly cells: readonly ScalingCellResult[];
  readonly skipped: readonly SkippedCell[];
  readonly rounds: readonly ScalingRound[];
  /** Runs executed now, over all rounds. */
  readonly ranNow: number;
  readonly runs: number;
}

export interface ScalingDriverOptions {
  readonly runSpecs: SpecRunner;
  /** Run only this shard's cells (every N-th by label): the bisections are independent, so shards split by cell. */
  readonly shard?: Shard;
  /** Before each round's runs. */
  readonly onRound?: (round: { round: number; open: number; runs: number; queries: ScalingRound['queries'] }) => void;
}

const mean = (values: readonly number[]) => (values.length === 0 ? NaN : values.reduce((s, v) => s + v, 0) / values.length);

/** Runs every cell's bisection in rounds until all are done. */
export async function runScaling(settings: ScalingOptions, options: ScalingDriverOptions): Promise<ScalingOutcome> {
  const { cells: all, skipped } = scalingCells(settings);
  const cells = options.shard ? shardCells(all, options.shard) : all;
  const seeds = Array.from({ length: settings.seeds }, (_, i) => i);
  const searches = cells.map((cell) => ({
    cell,
    search: new Bisection({ low: settings.low, high: settings.high, tolerance: settings.tolerance, requiredShare: settings.requiredShare }),
    evaluations: [] as ScalingEvaluation[],
    lStar: null as number | null,
  }));
  const rounds: ScalingRound[] = [];
  let ranNow = 0;
  let runs = 0;
  for (let round = 1; ; round++) {
    const open = searches.filter((s) => !s.search.done);
    if (open.length === 0) break;
    const queries = open.map((s) => {
      const trainSize = s.search.next()!;
      return { s, trainSize, specs: seeds.map((seed) => scalingSpec(settings, s.cell, trainSize, seed)) };
    });
    const specs = queries.flatMap((q) => q.specs);
    const described = queries.map((q) => ({ label: cellLabel(q.s.cell), trainSize: q.trainSize }));
    options.onRound?.({ round, open: open.length, runs: specs.length, queries: described });
    const { lines, ran } = await options.runSpecs(specs, round);
    const byKey = new Map(lines.map((line) => [line.key, line]));
    for (const q of queries) {
      const outcomes = q.specs.map((spec) => {
        const line = byKey.get(runKey(spec));
        if (!line) throw new Error(`scaling: the runner returned no result for ${cellLabel(q.s.cell)} N=${q.trainSize} seed=${spec.training?.seed}`);
        return line;
      });
      const ok = outcomes.flatMap((line) => (line.status === 'ok' ? [line.record] : []));
      for (const record of ok) if ('lStar' in record && record.lStar !== undefined) q.s.lStar = Math.max(q.s.lStar ?? 0, record.lStar);
      const successes = outcomes.filter((line) => reachedTarget(line, settings.targetAccuracy)).length;
      const share = successes / outcomes.length;
      q.s.evaluations.push({
        trainSize: q.trainSize,
        runs: outcomes.length,
        successes,
        share,
        meanAccuracy: mean(ok.map((r) => r.finalTestAccuracy).filter(Number.isFinite)),
        failedRuns: outcomes.length - ok.length,
      });
      q.s.search.record(q.trainSize, share);
    }
    rounds.push({ round, queries: described, runs: specs.length, ran });
    ranNow += ran;
    runs += specs.length;
  }
  return {
    settings,
    cells: searches.map((s) => ({ cell: s.cell, label: cellLabel(s.cell), result: s.search.result(), evaluations: s.evaluations, lStar: s.lStar })),
    skipped,
    rounds,
    ranNow,
    runs,
  };
}
