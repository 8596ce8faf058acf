/** Types the report's modules share (kept apart so that no module imports another's implementation for a type). */
import type { Finding } from './finding.js';
import type { OkLine } from './load-results.js';
import type { AggregatedPoint, Observation } from './statistics.js';

/** A setting of the runs: every distinct value seen, beside the paper's where it has one. */
export interface ProtocolSetting {
  readonly setting: string;
  readonly values: readonly (string | number | boolean | null)[];
  readonly paper: string | number | null;
}

/** A point of the paper's, in the figure's units. */
export interface ReferencePoint {
  readonly series: string;
  readonly x: number;
  readonly y: number;
}

/**
 * How one experiment's records become one figure of the paper, with the paper's values beside them.
 * `L` is the kind of run it reads: two-layer runs (the MNIST figures) or image runs (the WRN figures).
 */
export interface FigureView<L extends OkLine = OkLine> {
  readonly experiment: string;
  readonly title: string;
  /** Axis titles, and the short names tables use. */
  readonly xTitle: string;
  readonly xName: string;
  readonly yTitle: string;
  readonly valueName: string;
  readonly seriesName: string;
  /** Decimals for values in tables. */
  readonly digits: number;
  /** 'share': each run gives 0 or 1 and the point is the share of runs (shown as k/n, no error bars). */
  readonly valueKind: 'measure' | 'share';
  readonly errorBars: boolean;
  readonly yDomain?: readonly [number, number];
  /** The range the measure cannot leave (a percentage: [0, 100]); the ±1 std error bars are clipped to it. */
  readonly valueBounds?: readonly [number, number];
  /** Series in legend order; series not listed follow in natural order. */
  readonly seriesOrder: readonly string[];
  readonly paper: {
    /** Where the values come from, short enough for the legend. */
    readonly source: string;
    readonly points: readonly ReferencePoint[];
    /** True when the points are the paper's values of the same quantity, so a difference means something. */
    readonly comparable: boolean;
    readonly note?: string;
  };
  /** Whether the figure reads this kind of run; the others are left out with a warning. */
  accepts(line: OkLine): line is L;
  /** Settings of the runs that change the numbers, beside the paper's. */
  protocol(lines: readonly L[]): ProtocolSetting[];
  /** This run's numbers on the figure (NaN where the record holds null). */
  observe(line: L): Observation[];
  findings(points: readonly AggregatedPoint[]): Finding[];
  /** Image runs: cost per model, training time per N, accuracy per group. */
  extras?(lines: readonly L[]): ImageReportExtras;
}

/** Size and arithmetic of one model, from its records (one value each unless runs differ in settings). */
export interface ModelCost {
  readonly series: string;
  readonly runs: number;
  readonly trainableParams: readonly number[];
  /** Analytic forward FLOPs per image (the PatchMoE as its formulation computes it). */
  readonly forwardFlopsPerSample: readonly number[];
  /** Forward plus backward FLOPs per training image. */
  readonly trainStepFlopsPerSample: readonly number[];
  /** Mean over runs of the SGD time per training image and epoch. */
  readonly msPerTrainingSample: number;
  /** Mean over runs of the training FLOPs divided by the SGD time. */
  readonly achievedGflops: number;
}

/** Mean training time of one model at one N, beside the paper's where it gives one (Table 2). */
export interface TrainingTimePoint {
  readonly series: string;
  readonly x: number;
  readonly runs: number;
  /** SGD steps only. */
  readonly meanTrainTimeMs: number;
  /** With the evaluation after every epoch. */
  readonly meanWallTimeMs: number;
  readonly paperSeconds: number | null;
}

/** Test accuracy (%) of one group of test images, per model and N. */
export interface GroupAccuracyPoint extends AggregatedPoint {
  readonly group: string;
}

/** What an image figure adds to its report. */
/**
 * WRN-pMoE − WRN at one N over the seeds both ran: the paired difference of final test accuracy
 * (and of the mean over the last epochs), and each model's training accuracy at its last epoch
 * (whether training had converged).
 */
export interface PairedGap {
  readonly x: number;
  readonly pairs: number;
  /** Mean over the pairs of WRN-pMoE − WRN, in points of test accuracy. */
  readonly meanDifference: number;
  /** 95% t interval of that mean; null with one pair. */
  readonly interval: readonly [number, number] | null;
  /** The same on each run's mean test accuracy over its last `epochs` epochs (steadier than the last epoch alone). */
  readonly steady?: { readonly epochs: number; readonly meanDifference: number; readonly interval: readonly [number, number] | null };
  /** Mean training accuracy (%) at the last epoch, by model. */
  readonly finalTrainAccuracy: Readonly<Record<string, number>>;
}

export interface ImageReportExtras {
  readonly costs: readonly ModelCost[];
  readonly trainingTime: readonly TrainingTimePoint[];
  /** WRN-pMoE against WRN per N, paired by seed. */
  readonly paired: readonly PairedGap[];
  readonly groupAccuracy?: readonly GroupAccuracyPoint[];
  /** One-logit (sigmoid head) runs: mean test accuracy (%) under both rules, per model and N. */
  readonly logitRules?: readonly LogitRulesPoint[];
  /** Runs on data with a spurious feature: balanced, worst-group and reversed accuracy per model and N (`group` names the measure). */
  readonly spurious?: { readonly points: readonly GroupAccuracyPoint[]; readonly reversedFrom: readonly string[] };
}

/** Test accuracy of one-logit runs under the argmax-equivalent rule (logit > 0) and the official code's (logit > 0.5). */
export interface LogitRulesPoint {
  readonly series: string;
  readonly x: number;
  readonly runs: number;
  readonly aboveZero: number;
  readonly aboveHalf: number;
}
