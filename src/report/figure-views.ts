import { fig4Claims, fig4Finding } from './fig4-claims.js';
import { fig5Finding, fig5Transitions, TRANSITION_LEVEL } from './fig5-transition.js';
import { fig6Finding, fig6Summaries, PAPER_FIG6 } from './fig6-experts.js';
import { fig7Finding, fig7Peaks } from './fig7-peak.js';
import { protocolSettings } from './protocol-settings.js';
import { type ProtocolSetting } from './report-types.js';
import { isImageLine, isPatchLine, type OkLine, type PatchOkLine, type ReportLine } from './load-results.js';
import { PAPER_FIG4, PAPER_FIG5, PAPER_FIG7, PAPER_FIG8, PAPER_FIG9, PAPER_MNIST_PROTOCOL, type ModelName } from '../experiments/paper-numbers.js';
import { compareSeriesNames, curveOf, type AggregatedPoint, type Observation } from './statistics.js';
import { isWrnExperiment, wrnView } from './wrn-figures.js';
import type { FigureView } from './report-types.js';

/** Settings of the report that change what a figure shows; neither needs a rerun. */
export interface FigureOptions {
  /** Figure 5: a trial succeeds when its final test accuracy (a fraction) is at least this. Default 0.95. */
  readonly successAccuracy?: number;
  /** Figure 8: the l whose routing rate is drawn. Default 1, 2, 4, 6, 8 (the paper's). */
  readonly routerPatchesPerExpert?: readonly number[];
}

/** Settings of two-layer runs that change the numbers: mixing runs that differ in them makes a mean of unlike things. */
function mnistProtocol(lines: readonly PatchOkLine[]): ProtocolSetting[] {
  return protocolSettings(lines, [
    { setting: 'data source', read: (l) => l.record.data.source, paper: 'mnist-patch' },
    { setting: 'test samples', read: (l) => l.record.data.testCount ?? l.record.data.testSize, paper: PAPER_MNIST_PROTOCOL.testCount },
    { setting: 'epochs', read: (l) => l.record.training.epochs, paper: PAPER_MNIST_PROTOCOL.epochs },
    {
      setting: 'router epochs (separate)',
      read: (l) => (l.record.training.model === 'separate' ? l.record.training.routerEpochs : undefined),
      paper: PAPER_MNIST_PROTOCOL.routerEpochs,
    },
    { setting: 'learning rate', read: (l) => l.record.training.learningRate, paper: PAPER_MNIST_PROTOCOL.learningRate },
    { setting: 'batch size', read: (l) => l.record.training.batchSize, paper: PAPER_MNIST_PROTOCOL.batchSize },
    { setting: 'init', read: (l) => l.record.model.init, paper: null },
  ]);
}

/** What every two-layer figure shares: it reads two-layer runs and their MNIST protocol. */
const twoLayer = { accepts: isPatchLine, protocol: mnistProtocol } as const;

const finiteOr = (value: number | null | undefined): number => (typeof value === 'number' ? value : NaN);

const MODEL_LABELS: Record<ModelName, string> = { cnn: 'CNN', separate: 'separate pMoE', joint: 'joint pMoE' };
const modelLabel = (model: string) => MODEL_LABELS[model as ModelName] ?? model;
const lLabel = (l: number) => `l = ${l}`;
const sizeLabel = (n: number) => `N = ${n}`;
const classLabel = (c: number) => `class ${c + 1}${c === 0 ? ' (y = +1)' : c === 1 ? ' (y = -1)' : ''}`;
const numberIn = (label: string) => Number(/(\d+)\s*$/.exec(label)?.[1] ?? NaN);

function observation(line: PatchOkLine, series: string, x: number, value: number): Observation {
  return { series, x, value, seed: line.record.training.seed, key: line.key };
}

function seriesNames(points: readonly AggregatedPoint[]): string[] {
  return [...new Set(points.map((p) => p.series))].sort(compareSeriesNames);
}

const accuracyAxis = {
  yTitle: 'test accuracy (%)',
  valueName: 'test accuracy (%)',
  digits: 2,
  valueKind: 'measure',
  errorBars: true,
  valueBounds: [0, 100],
} as const;
const samplesAxis = { xTitle: 'number of training samples N', xName: 'N' } as const;

type MeanPoint = { readonly series: string; readonly x: number; readonly mean: number };

function fig4View(): FigureView<PatchOkLine> {
  const models: ModelName[] = ['cnn', 'separate', 'joint'];
  const paperPoints = models.flatMap((model) => PAPER_FIG4.sizes.map((x, i) => ({ series: modelLabel(model), x, y: PAPER_FIG4.accuracy[model][i] })));
  const meanCurve = (of: readonly MeanPoint[], model: ModelName) => of.filter((p) => p.series === modelLabel(model)).map((p) => ({ x: p.x, mean: p.mean }));
  const claimsOn = (of: readonly MeanPoint[]) =>
    fig4Claims(
      meanCurve(of, 'cnn'),
      (['separate', 'joint'] as const).map((model) => ({ model: modelLabel(model), curve: meanCurve(of, model) })).filter((pmoe) => pmoe.curve.length > 0),
    );
  return {
    ...twoLayer,
    experiment: 'fig4',
    title: 'Figure 4: test accuracy against the number of training samples',
    ...samplesAxis,
    ...accuracyAxis,
    seriesName: 'model',
    seriesOrder: models.map(modelLabel),
    paper: {
      source: 'paper, Fig. 4 (read off)',
      points: paperPoints,
      comparable: true,
    },
    observe: (line) => [observation(line, modelLabel(line.record.training.model), line.record.data.trainSize, 100 * finiteOr(line.record.finalTestAccuracy))],
    findings: (points) => [fig4Finding(claimsOn(points), claimsOn(paperPoints.map((p) => ({ ...p, mean: p.y }))), PAPER_FIG4.claimedSampleFraction)],
  };
}

function fig5View(successAccuracy: number): FigureView<PatchOkLine> {
  // Odd l would add legend entries that pmoe's fig5 (l = 2, 4, ..., 12) never measures.
  const paperL = PAPER_FIG5.boundary
    .filter((b) => b.relation === 'about')
    .flatMap((b) => b.patchesPerExpert.filter((l) => l % 2 === 0).map((l) => ({ l, samples: b.samples })));
  return {
    ...twoLayer,
    experiment: 'fig5',
    title: `Figure 5: separate pMoE success rate (final test accuracy >= ${(100 * successAccuracy).toFixed(1)}%)`,
    ...samplesAxis,
    yTitle: 'success rate',
    valueName: 'success rate',
    seriesName: 'l',
    digits: 2,
    valueKind: 'share',
    errorBars: false,
    yDomain: [0, 1],
    seriesOrder: [],
    paper: {
      source: 'paper, Fig. 5 boundary (read off)',
      // The paper draws a boundary, not rates: it is placed where half the trials succeed.
      points: paperL.map(({ l, samples }) => ({ series: lLabel(l), x: samples, y: TRANSITION_LEVEL })),
      comparable: false,
      note: `The paper's boundary (about 500 for l <= 8, about 620 at l = 10, above 900 at l = 12) is drawn at success rate ${TRANSITION_LEVEL}.`,
    },
    observe(line) {
      const accuracy = finiteOr(line.record.finalTestAccuracy);
      const l = line.record.model.patchesPerExpert;
      const success = Number.isFinite(accuracy) ? Number(accuracy >= successAccuracy) : NaN;
      return [observation(line, l === undefined ? 'l = ?' : lLabel(l), line.record.data.trainSize, success)];
    },
    findings: (points) => [
      fig5Finding(
        fig5Transitions(seriesNames(points).map((series) => ({ patchesPerExpert: numberIn(series), curve: curveOf(points, series) }))),
        successAccuracy,
      ),
    ],
  };
}

function fig6View(): FigureView<PatchOkLine> {
  const cnnSeries = (n: number) => `CNN, N = ${n}`;
  return {
    ...twoLayer,
    experiment: 'fig6',
    title: 'Figure 6: joint pMoE test accuracy against the number of experts k',
    xTitle: 'number of experts k',
    xName: 'k',
    ...accuracyAxis,
    seriesName: 'N',
    seriesOrder: [...[300, 400, 500].map(sizeLabel), cnnSeries(PAPER_FIG6.cnnSize)],
    paper: {
      source: 'paper, Fig. 6 at N = 500 (read off)',
      points: Object.entries(PAPER_FIG6.accuracyAt500).map(([k, y]) => ({ series: sizeLabel(500), x: Number(k), y })),
      comparable: true,
      note: `N = 300 lies within ${PAPER_FIG6.rangeAt300.join('-')}% at every k; N = 400 and the CNN are not given as numbers. l is not stated (pmoe: l = 6).`,
    },
    observe(line) {
      const accuracy = 100 * finiteOr(line.record.finalTestAccuracy);
      // The CNN has no k: its runs are a reference line drawn across the paper's k.
      if (line.record.training.model === 'cnn') return PAPER_FIG6.experts.map((k) => observation(line, cnnSeries(line.record.data.trainSize), k, accuracy));
      return [observation(line, sizeLabel(line.record.data.trainSize), finiteOr(line.record.model.experts), accuracy)];
    },
    findings(points) {
      const cnn = points.filter((p) => p.series.startsWith('CNN'));
      const cnnReference = cnn.length === 0 ? null : { samples: numberIn(cnn[0].series), accuracy: cnn[0].mean };
      const curves = seriesNames(points)
        .filter((series) => !series.startsWith('CNN'))
        .map((series) => ({ samples: numberIn(series), curve: curveOf(points, series) }));
      return [fig6Finding(fig6Summaries(curves, cnnReference?.accuracy ?? null), cnnReference)];
    },
  };
}

function fig7View(): FigureView<PatchOkLine> {
  return {
    ...twoLayer,
    experiment: 'fig7',
    title: 'Figure 7: joint pMoE test accuracy against l, patches per expert',
    xTitle: 'patches per expert l',
    xName: 'l',
    ...accuracyAxis,
    seriesName: 'N',
    seriesOrder: [],
    paper: {
      source: 'paper, Fig. 7 peak (read off)',
      points: Object.entries(PAPER_FIG7.peakAccuracy).map(([n, y]) => ({ series: sizeLabel(Number(n)), x: PAPER_FIG7.peakPatchesPerExpert, y })),
      comparable: true,
      note: 'Only the peak of each curve (at l = 6) is given; the curves then decline slowly.',
    },
    observe: (line) => [
      observation(line, sizeLabel(line.record.data.trainSize), finiteOr(line.record.model.patchesPerExpert), 100 * finiteOr(line.record.finalTestAccuracy)),
    ],
    findings: (points) => [fig7Finding(fig7Peaks(seriesNames(points).map((series) => ({ samples: numberIn(series), curve: curveOf(points, series) }))))],
  };
}

function fig8View(patchesPerExpert: readonly number[]): FigureView<PatchOkLine> {
  return {
    ...twoLayer,
    experiment: 'fig8',
    title: "Figure 8: separate routers' discriminative routing rate against router samples",
    xTitle: 'number of router training samples N_r',
    xName: 'N_r',
    yTitle: 'discriminative patch in top l (%)',
    valueName: 'routing rate (%)',
    seriesName: 'l',
    digits: 2,
    valueKind: 'measure',
    valueBounds: [0, 100],
    errorBars: true,
    seriesOrder: patchesPerExpert.map(lLabel),
    paper: {
      source: 'paper, Fig. 8 at N_r = 300 (read off)',
      points: Object.entries(PAPER_FIG8.rate)
        .filter(([l]) => patchesPerExpert.includes(Number(l)))
        .map(([l, y]) => ({ series: lLabel(Number(l)), x: PAPER_FIG8.routerSamples, y })),
      comparable: true,
    },
    observe(line) {
      const rates = line.record.routerRateByPatchesPerExpert ?? [];
      const routerSamples = line.record.training.routerSamples ?? line.record.data.trainSize;
      return patchesPerExpert.filter((l) => l >= 1 && l <= rates.length).map((l) => observation(line, lLabel(l), routerSamples, 100 * finiteOr(rates[l - 1])));
    },
    findings: () => [],
  };
}

function fig9View(): FigureView<PatchOkLine> {
  return {
    ...twoLayer,
    experiment: 'fig9',
    title: 'Figure 9: joint routers, share of samples whose discriminative patch gets the largest gate',
    ...samplesAxis,
    yTitle: 'well-routed samples (%)',
    valueName: 'routing rate (%)',
    seriesName: 'class',
    digits: 2,
    valueKind: 'measure',
    valueBounds: [0, 100],
    errorBars: true,
    seriesOrder: [classLabel(0), classLabel(1)],
    paper: {
      source: 'paper, Fig. 9 text at N = 300',
      points: PAPER_FIG9.ratePerClass.map((y, c) => ({ series: classLabel(c), x: PAPER_FIG9.samples, y })),
      comparable: true,
    },
    observe: (line) =>
      (line.record.routingRate?.perClass ?? []).map((rate, c) => observation(line, classLabel(c), line.record.data.trainSize, 100 * finiteOr(rate))),
    findings: () => [],
  };
}

/** Experiments the paper has no figure for: final test accuracy per model against N. */
function genericView(experiment: string): FigureView<PatchOkLine> {
  return {
    ...twoLayer,
    experiment,
    title: `${experiment}: test accuracy against the number of training samples`,
    ...samplesAxis,
    ...accuracyAxis,
    seriesName: 'model',
    seriesOrder: Object.values(MODEL_LABELS),
    paper: { source: 'paper', points: [], comparable: false, note: "Not one of the paper's figures: no paper values to compare." },
    observe: (line) => [observation(line, modelLabel(line.record.training.model), line.record.data.trainSize, 100 * finiteOr(line.record.finalTestAccuracy))],
    findings: () => [],
  };
}

/**
 * The figure for an experiment name; names that are not the paper's figures get a plain accuracy
 * plot of the kind of runs in `lines` (two-layer runs unless every finished run is an image run).
 */
export function figureViewFor(experiment: string, options: FigureOptions = {}, lines: readonly ReportLine[] = []): FigureView {
  if (isWrnExperiment(experiment)) return wrnView(experiment);
  switch (experiment) {
    case 'fig4':
      return fig4View();
    case 'fig5':
      return fig5View(options.successAccuracy ?? 0.95);
    case 'fig6':
      return fig6View();
    case 'fig7':
      return fig7View();
    case 'fig8':
      return fig8View(options.routerPatchesPerExpert ?? [1, 2, 4, 6, 8]);
    case 'fig9':
      return fig9View();
    case 'fig4-fashion':
      return { ...genericView(experiment), title: "Figure 4's protocol on Fashion-MNIST grids: test accuracy against the number of training samples" };
    default: {
      const ok = lines.filter((line): line is OkLine => line.status === 'ok');
      return ok.length > 0 && ok.every(isImageLine) ? wrnView(experiment) : genericView(experiment);
    }
  }
}
