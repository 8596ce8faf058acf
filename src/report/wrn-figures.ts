/**
 * The report of the Wide-ResNet experiments (Figures 10-16 and wrn-mnist): test accuracy of WRN and
 * WRN-pMoE against N beside the paper's, and what the image records add to the two-layer reports:
 * each model's size and analytic FLOPs, its training time per N (beside the paper's Table 2 for
 * Figure 12), and, where the data define groups (Figure 11), test accuracy per group.
 */
import { protocolSettings } from './protocol-settings.js';
import { type ProtocolSetting } from './report-types.js';
import type { FigureView } from './report-types.js';
import type { Finding } from './finding.js';
import { isImageLine, type ImageOkLine } from './load-results.js';
import { markdownTable, signed } from './markdown-table.js';
import { PAPER_TABLE2, PAPER_WRN, PAPER_WRN_PROTOCOL, type WrnModelName } from '../experiments/paper-numbers.js';
import { aggregate, curveOf, mean, type AggregatedPoint, type Observation } from './statistics.js';
import type { ImageReportExtras, LogitRulesPoint, ModelCost, TrainingTimePoint } from './report-types.js';
import { pairedGaps } from './paired-gap.js';

const MODEL_LABELS: Record<WrnModelName, string> = { wrn: 'WRN', 'wrn-pmoe': 'WRN-pMoE' };
const wrnLabel = (architecture: string) => MODEL_LABELS[architecture as WrnModelName] ?? architecture;
const finiteOr = (value: number | null | undefined) => (typeof value === 'number' ? value : NaN);
const distinct = (values: readonly number[]) => [...new Set(values)].sort((a, b) => a - b);

const TITLES: Record<string, string> = {
  fig10: 'Figure 10: WRN vs WRN-pMoE on CelebA smiling',
  fig11: 'Figure 11: WRN vs WRN-pMoE on CelebA smiling with a spurious hair colour (balanced test set)',
  fig12: 'Figure 12: WRN vs WRN-pMoE on CelebA smiling x eyeglasses (4 classes)',
  fig14: 'Figure 14: WRN vs WRN-pMoE on CIFAR-10',
  fig15: 'Figure 15: WRN vs WRN-pMoE on CIFAR-10 with natural-image background',
  fig16: 'Figure 16: WRN vs WRN-pMoE on CIFAR-Vehicles',
  'wrn-mnist': 'WRN vs WRN-pMoE on MNIST quadrants (the CIFAR-Vehicles analogue)',
  'wrn-fashion': 'WRN vs WRN-pMoE on Fashion-MNIST quadrants',
};

/** Whether this module reports `experiment` (the WRN experiments of src/experiments/wrn-experiments.ts). */
export const isWrnExperiment = (experiment: string) => Object.hasOwn(TITLES, experiment);

/** What the official code sets where pmoe's default differs or the paper's text and code disagree, per experiment. */
function officialSettings(experiment: string): { patchesPerExpert: string | null; head: string | null } {
  return {
    // The paper's text gives Figure 15 the CIFAR setting's l = 16; the official background-noise script has l = 2.
    patchesPerExpert: experiment === 'fig15' ? '16 (text); 2 (official code: --set patchesPerExpert=2)' : null,
    head: experiment === 'fig10' || experiment === 'fig11' ? 'sigmoid (official code: --set head=sigmoid)' : null,
  };
}

const protocolOf =
  (experiment: string) =>
  (lines: readonly ImageOkLine[]): ProtocolSetting[] => {
    const pmoe = (line: ImageOkLine) => (line.record.model.architecture === 'wrn-pmoe' ? line.record.model : undefined);
    const official = officialSettings(experiment);
    return protocolSettings(lines, [
      { setting: 'data source', read: (l) => l.record.data.source, paper: null },
      { setting: 'test images', read: (l) => l.record.data.testSize, paper: null },
      { setting: 'widening factor', read: (l) => l.record.model.wideningFactor, paper: PAPER_WRN_PROTOCOL.wideningFactor },
      { setting: 'epochs', read: (l) => l.record.training.epochs, paper: PAPER_WRN_PROTOCOL.epochs },
      { setting: 'batch size', read: (l) => l.record.training.batchSize, paper: PAPER_WRN_PROTOCOL.batchSize },
      { setting: 'learning rate', read: (l) => l.record.training.learningRate, paper: PAPER_WRN_PROTOCOL.learningRate },
      { setting: 'BN momentum', read: (l) => l.record.model.batchNormMomentum, paper: PAPER_WRN_PROTOCOL.batchNormMomentum },
      { setting: 'output head', read: (l) => l.record.model.head ?? 'softmax', paper: official.head },
      { setting: 'WRN-pMoE experts k', read: (l) => pmoe(l)?.experts, paper: null },
      { setting: 'WRN-pMoE patches per expert l', read: (l) => pmoe(l)?.patchesPerExpert, paper: official.patchesPerExpert },
      { setting: 'WRN-pMoE patch size', read: (l) => pmoe(l)?.patchSize, paper: null },
      { setting: 'WRN-pMoE expert kernel', read: (l) => pmoe(l)?.kernelSize, paper: null },
      // Records written before the option have no formulation: they are sparse.
      { setting: 'WRN-pMoE formulation', read: (l) => (pmoe(l) ? (pmoe(l)!.formulation ?? 'sparse') : undefined), paper: 'official' },
      { setting: 'WRN-pMoE router init', read: (l) => (pmoe(l) ? (pmoe(l)!.routerInit ?? 'independent') : undefined), paper: null },
    ]);
  };

function gapFinding(experiment: string, points: readonly AggregatedPoint[]): Finding {
  const paper = PAPER_WRN[experiment as keyof typeof PAPER_WRN];
  const ours = (series: string) => new Map(curveOf(points, series).map((p) => [p.x, p.mean]));
  const [wrn, pmoe] = [ours('WRN'), ours('WRN-pMoE')];
  const sizes = [...new Set([...wrn.keys(), ...pmoe.keys(), ...(paper?.sizes ?? [])])].sort((a, b) => a - b);
  const rows = sizes.map((N) => {
    const gap = pmoe.has(N) && wrn.has(N) ? pmoe.get(N)! - wrn.get(N)! : null;
    const at = paper?.sizes.indexOf(N) ?? -1;
    const paperGap = paper && at >= 0 ? paper.accuracy['wrn-pmoe'][at] - paper.accuracy.wrn[at] : null;
    return { N, gap, paperGap };
  });
  const measured = rows.filter((r) => r.gap !== null && Number.isFinite(r.gap));
  const above = measured.filter((r) => r.gap! >= 0).length;
  const summary =
    measured.length === 0
      ? 'No N has both models measured.'
      : `WRN-pMoE is at or above WRN at ${above} of ${measured.length} N measured (mean test accuracy over seeds).`;
  const markdown = [
    summary,
    ...(paper?.claim ? [`The paper: ${paper.claim}`] : []),
    '',
    markdownTable(
      ['N', 'ours: WRN-pMoE − WRN (points)', ...(paper ? ['paper: WRN-pMoE − WRN'] : [])],
      rows.map((r) => [String(r.N), signed(r.gap, 2), ...(paper ? [signed(r.paperGap, 1)] : [])]),
      ['right', 'right', 'right'],
    ),
  ].join('\n');
  return { title: 'WRN-pMoE against WRN', markdown, data: { rows, atOrAbove: above, measured: measured.length } };
}

function extrasOf(experiment: string, lines: readonly ImageOkLine[]): ImageReportExtras {
  const bySeries = new Map<string, ImageOkLine[]>();
  for (const line of lines) {
    const series = wrnLabel(line.record.model.architecture);
    const runs = bySeries.get(series);
    if (runs) runs.push(line);
    else bySeries.set(series, [line]);
  }
  const order = Object.values(MODEL_LABELS);
  const seriesList = [...bySeries.keys()].sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  const costs = seriesList.map((series): ModelCost => {
    const runs = bySeries.get(series)!;
    const samples = (l: ImageOkLine) => l.record.data.trainSize * l.record.training.epochs;
    return {
      series,
      runs: runs.length,
      trainableParams: distinct(runs.map((l) => l.record.trainableParams)),
      forwardFlopsPerSample: distinct(runs.map((l) => l.record.flops.forwardPerSample)),
      trainStepFlopsPerSample: distinct(runs.map((l) => l.record.flops.trainStepPerSample)),
      msPerTrainingSample: mean(runs.map((l) => l.record.trainTimeMs / samples(l))),
      achievedGflops: mean(runs.map((l) => l.record.flops.training / 1e9 / (l.record.trainTimeMs / 1000))),
    };
  });
  const paperTimes = experiment === PAPER_TABLE2.experiment ? PAPER_TABLE2 : undefined;
  const trainingTime = seriesList.flatMap((series) => {
    const runs = bySeries.get(series)!;
    const architecture = runs[0].record.model.architecture as WrnModelName;
    const byN = new Map<number, ImageOkLine[]>();
    for (const l of runs) {
      const atN = byN.get(l.record.data.trainSize);
      if (atN) atN.push(l);
      else byN.set(l.record.data.trainSize, [l]);
    }
    return [...byN]
      .sort(([a], [b]) => a - b)
      .map(([x, atN]): TrainingTimePoint => {
        const paperAt = paperTimes ? (paperTimes.sizes as readonly number[]).indexOf(x) : -1;
        return {
          series,
          x,
          runs: atN.length,
          meanTrainTimeMs: mean(atN.map((l) => l.record.trainTimeMs)),
          meanWallTimeMs: mean(atN.map((l) => l.record.wallTimeMs)),
          paperSeconds: paperTimes && paperAt >= 0 && architecture in paperTimes.seconds ? paperTimes.seconds[architecture][paperAt] : null,
        };
      });
  });
  const paired = pairedGaps(lines);
  const logitRules = logitRulesOf(seriesList, bySeries);
  const withRules = logitRules.length > 0 ? { logitRules } : {};
  // Groups from the spurious metrics where the records have them (they hold the same groups), else from groupAccuracy.
  const groupsOf = (line: ImageOkLine) =>
    line.record.spurious?.groups.map((g) => ({ group: g.name, accuracy: g.accuracy })) ??
    line.record.groupAccuracy?.map((g) => ({ group: g.group, accuracy: g.accuracy }));
  const grouped = lines.filter((l) => groupsOf(l) !== undefined);
  if (grouped.length === 0) return { costs, trainingTime, paired, ...withRules };
  const observe = (line: ImageOkLine, name: string, value: number | null) => ({
    series: `${wrnLabel(line.record.model.architecture)} | ${name}`,
    x: line.record.data.trainSize,
    value: 100 * finiteOr(value),
    seed: line.record.training.seed,
    key: line.key,
  });
  const split = (points: readonly AggregatedPoint[]) =>
    points.map((p) => {
      const [series, group] = p.series.split(' | ');
      return { ...p, series, group };
    });
  const finite = (observations: Observation[]) => observations.filter((o) => Number.isFinite(o.value));
  const groupAccuracy = split(aggregate(finite(grouped.flatMap((line) => groupsOf(line)!.map((g) => observe(line, g.group, g.accuracy))))));
  const withSpurious = lines.filter((l) => l.record.spurious !== undefined);
  if (withSpurious.length === 0) return { costs, trainingTime, paired, groupAccuracy, ...withRules };
  const spurious = split(
    aggregate(
      finite(
        withSpurious.flatMap((line) => {
          const m = line.record.spurious!;
          return [
            observe(line, SPURIOUS_MEASURES[0], m.balancedAccuracy),
            observe(line, SPURIOUS_MEASURES[1], m.worstGroupAccuracy),
            observe(line, SPURIOUS_MEASURES[2], m.reversedAccuracy),
          ];
        }),
      ),
    ),
  );
  const reversedFrom = [...new Set(withSpurious.map((l) => l.record.spurious!.reversedFrom))];
  return { costs, trainingTime, paired, groupAccuracy, spurious: { points: spurious, reversedFrom }, ...withRules };
}

/** Mean final test accuracy (%) under both one-logit rules, per model and N, over the runs that recorded both. */
function logitRulesOf(seriesList: readonly string[], bySeries: ReadonlyMap<string, ImageOkLine[]>): LogitRulesPoint[] {
  return seriesList.flatMap((series) => {
    const runs = bySeries.get(series)!.filter((l) => typeof l.record.finalTestAccuracyLogitAboveHalf === 'number');
    return distinct(runs.map((l) => l.record.data.trainSize)).map((x): LogitRulesPoint => {
      const atN = runs.filter((l) => l.record.data.trainSize === x);
      return {
        series,
        x,
        runs: atN.length,
        aboveZero: mean(atN.map((l) => 100 * finiteOr(l.record.finalTestAccuracy))),
        aboveHalf: mean(atN.map((l) => 100 * finiteOr(l.record.finalTestAccuracyLogitAboveHalf))),
      };
    });
  });
}

/** The spurious-feature measures an image report tabulates, in order. */
const SPURIOUS_MEASURES = ['balanced test set', 'worst group', 'reversed'] as const;

/** The figure of a Wide-ResNet experiment: test accuracy (%) against N, one curve per model. */
export function wrnView(experiment: string): FigureView<ImageOkLine> & { extras(lines: readonly ImageOkLine[]): ImageReportExtras } {
  const paper = PAPER_WRN[experiment as keyof typeof PAPER_WRN];
  const paperPoints = paper
    ? (['wrn', 'wrn-pmoe'] as const).flatMap((model) => paper.sizes.map((x, i) => ({ series: MODEL_LABELS[model], x, y: paper.accuracy[model][i] })))
    : [];
  return {
    experiment,
    title: TITLES[experiment] ?? `${experiment}: WRN vs WRN-pMoE test accuracy against the number of training samples`,
    xTitle: 'number of training samples N',
    xName: 'N',
    yTitle: 'test accuracy (%)',
    valueName: 'test accuracy (%)',
    digits: 2,
    valueKind: 'measure',
    valueBounds: [0, 100],
    errorBars: true,
    seriesName: 'model',
    seriesOrder: Object.values(MODEL_LABELS),
    paper: paper
      ? { source: `paper, Fig. ${experiment.slice(3)} (read off)`, points: paperPoints, comparable: true }
      : {
          source: 'paper',
          points: [],
          comparable: false,
          note:
            experiment === 'wrn-mnist' || experiment === 'wrn-fashion'
              ? `The paper has no ${experiment === 'wrn-mnist' ? 'MNIST' : 'Fashion-MNIST'}-quadrant experiment (this is pmoe's analogue of Figure 16, CIFAR-Vehicles): there are no paper values to compare.`
              : "Not one of the paper's figures: no paper values to compare.",
        },
    accepts: isImageLine,
    protocol: protocolOf(experiment),
    observe: (line) => [
      {
        series: wrnLabel(line.record.model.architecture),
        x: line.record.data.trainSize,
        value: 100 * finiteOr(line.record.finalTestAccuracy),
        seed: line.record.training.seed,
        key: line.key,
      },
    ],
    findings: (points) => [gapFinding(experiment, points)],
    extras: (lines) => extrasOf(experiment, lines),
  };
}

const gflop = (flops: readonly number[]) => flops.map((f) => (f / 1e9).toFixed(4)).join(', ');
/** Three significant digits, whole numbers from 100 up. */
const figure = (value: number) => (Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const interval = (bounds: readonly [number, number] | null) => (bounds ? `[${signed(bounds[0], 2)}, ${signed(bounds[1], 2)}]` : '—');

/** The Markdown sections of an image report's extras. */
export function imageExtrasMarkdown(extras: ImageReportExtras): string[] {
  const out: string[] = [];
  if (extras.paired.length > 0) {
    out.push(
      '## WRN-pMoE against WRN, paired by seed',
      '',
      'A seed fixes the training set and the batches for both models. The difference is WRN-pMoE − WRN in final test accuracy (points), ' +
        "its mean over the seeds with a 95% t interval: an interval that excludes 0 is a difference beyond the seeds' spread. " +
        "The same follows for each run's mean test accuracy over its last epochs, which one bad epoch (an evaluation that drops towards chance " +
        'and recovers the next epoch) moves less. ' +
        'The last two columns are the training accuracy at the last epoch: well below 100% means training had not converged.',
      '',
      markdownTable(
        [
          'N',
          'pairs',
          'WRN-pMoE − WRN (points)',
          '95% interval',
          `over the last ${extras.paired[0].steady?.epochs ?? '—'} epochs (points)`,
          '95% interval',
          'WRN train accuracy, last epoch (%)',
          'WRN-pMoE train accuracy, last epoch (%)',
        ],
        extras.paired.map((p) => [
          String(p.x),
          String(p.pairs),
          signed(p.meanDifference, 2),
          interval(p.interval),
          p.steady ? signed(p.steady.meanDifference, 2) : '—',
          interval(p.steady?.interval ?? null),
          figure(p.finalTrainAccuracy.WRN),
          figure(p.finalTrainAccuracy['WRN-pMoE']),
        ]),
        ['right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
      ),
      '',
    );
  }
  out.push('## Cost per model', '');
  out.push(
    'FLOPs are analytic (src/analysis/flops.ts: convolutions and dense layers, 2 per multiply-add; the PatchMoE as its formulation ' +
      'computes it, routers included: sparse on the patches it gathers, official over the whole map). A training step costs forward + backward (backward = 2 x forward). Times are from the records, ' +
      'SGD steps only (no evaluation); the achieved rate is the training FLOPs over that time.',
    '',
  );
  out.push(
    markdownTable(
      ['model', 'runs', 'trainable parameters', 'forward GFLOP / image', 'training GFLOP / image', 'ms per image and epoch', 'achieved GFLOP/s'],
      extras.costs.map((c) => [
        c.series,
        String(c.runs),
        c.trainableParams.map((p) => p.toLocaleString('en-US')).join(', '),
        gflop(c.forwardFlopsPerSample),
        gflop(c.trainStepFlopsPerSample),
        figure(c.msPerTrainingSample),
        figure(c.achievedGflops),
      ]),
      ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
    ),
    '',
  );
  const [wrn, pmoe] = ['WRN', 'WRN-pMoE'].map((s) => extras.costs.find((c) => c.series === s));
  if (wrn && pmoe && wrn.forwardFlopsPerSample.length === 1 && pmoe.forwardFlopsPerSample.length === 1) {
    const flopRatio = pmoe.forwardFlopsPerSample[0] / wrn.forwardFlopsPerSample[0];
    const timeRatio = pmoe.msPerTrainingSample / wrn.msPerTrainingSample;
    out.push(
      `WRN-pMoE's forward FLOPs per image are ${(100 * flopRatio).toFixed(1)}% of WRN's (${(100 * (1 - flopRatio)).toFixed(1)}% fewer); ` +
        `its measured training time per image is ${(100 * timeRatio).toFixed(1)}% of WRN's. The paper reports about 42% fewer FLOPs, derived from GPU training times (Table 2).`,
      '',
    );
  }
  out.push('## Training time per model and N', '');
  const withPaper = extras.trainingTime.some((t) => t.paperSeconds !== null);
  out.push(
    markdownTable(
      ['model', 'N', 'runs', 'mean training time (SGD steps)', 'mean wall time (with evaluation)', ...(withPaper ? ['paper, Table 2 (one GPU)'] : [])],
      extras.trainingTime.map((t) => [
        t.series,
        String(t.x),
        String(t.runs),
        seconds(t.meanTrainTimeMs),
        seconds(t.meanWallTimeMs),
        ...(withPaper ? [t.paperSeconds === null ? '—' : `${t.paperSeconds} s`] : []),
      ]),
      ['left', 'right', 'right', 'right', 'right', 'right'],
    ),
    '',
  );
  if (extras.logitRules && extras.logitRules.length > 0) {
    out.push('## Accuracy of the one-logit head under both rules', '');
    out.push(
      "Mean final test accuracy (%) over the runs. The figure and tables above use logit > 0 (sigmoid > 0.5, the same rule as argmax over two logits); the official code's Keras BinaryAccuracy thresholds the raw logit at 0.5 (sigmoid > 0.62), which is what the paper's binary CelebA numbers measured.",
      '',
      markdownTable(
        ['model', 'N', 'runs', 'logit > 0 (%)', 'logit > 0.5, official (%)', 'difference (points)'],
        extras.logitRules.map((r) => [
          r.series,
          String(r.x),
          String(r.runs),
          r.aboveZero.toFixed(2),
          r.aboveHalf.toFixed(2),
          signed(r.aboveHalf - r.aboveZero, 2),
        ]),
        ['left', 'right', 'right', 'right', 'right', 'right'],
      ),
      '',
    );
  }
  if (extras.spurious && extras.spurious.points.length > 0) {
    const minority = extras.spurious.reversedFrom.includes('minority groups');
    out.push('## Spurious feature: balanced, worst-group and reversed accuracy', '');
    out.push(
      'Mean ± sample std over seeds, in %, after the last epoch: accuracy on the test set balanced over class x spurious feature, the lowest accuracy over its groups, ' +
        (minority
          ? 'and the accuracy over the groups whose spurious feature goes against the training association (CelebA has no reversed set of its own: smiling with blond hair, not smiling with black hair).'
          : "and the accuracy on the reversed set (the same test images, each with another class's spurious item)."),
      '',
    );
    out.push(
      markdownTable(
        ['model', 'N', 'measure', 'accuracy (mean ± std)', 'runs'],
        extras.spurious.points.map((g) => [
          g.series,
          String(g.x),
          g.group,
          `${g.mean.toFixed(2)} ± ${g.std === null ? '—' : g.std.toFixed(2)}`,
          String(g.count),
        ]),
        ['left', 'right', 'left', 'right', 'right'],
      ),
      '',
    );
  }
  if (extras.groupAccuracy && extras.groupAccuracy.length > 0) {
    out.push('## Test accuracy per group', '');
    out.push(
      'Mean ± sample std over seeds, in %, on the test images of each group (Figure 11: smiling x hair colour; quadrants with a spurious feature: class x spurious item; the test set is balanced over the groups).',
      '',
    );
    out.push(
      markdownTable(
        ['model', 'N', 'group', 'accuracy (mean ± std)', 'runs'],
        extras.groupAccuracy.map((g) => [g.series, String(g.x), g.group, `${g.mean.toFixed(2)} ± ${g.std === null ? '—' : g.std.toFixed(2)}`, String(g.count)]),
        ['left', 'right', 'left', 'right', 'right'],
      ),
      '',
    );
  }
  return out;
}
