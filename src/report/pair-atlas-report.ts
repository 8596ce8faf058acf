/**
 * The report of the pair atlas (src/experiments/pair-atlas.ts), made from its results file and the
 * data it ran on: per pair of classes and N, separate pMoE's discriminative routing rate and each
 * pMoE's accuracy margin over the CNN (mean over seeds), heat maps of them over the pairs, and how
 * well two properties of a pair measured on the data alone (../analysis/pair-separability.ts)
 * predict the routing rate, as correlations over the pairs.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { pearson, spearman } from '../analysis/correlation.js';
import { classProjections, pairSeparability, type PairSeparability } from '../analysis/pair-separability.js';
import { turnEventLoop } from '../util/event-loop.js';
import { loadFashionMnist } from '../data/fashion-mnist.js';
import { loadMnist } from '../data/mnist.js';
import { PAIR_ATLAS_EXPERIMENT } from '../experiments/pair-atlas.js';
import type { ResultLine } from '../experiments/results-file.js';
import { readResultsForReport } from './load-results.js';
import type { PatchRunRecord } from '../training/run.js';
import { writeFileAtomically } from '../util/atomic-write.js';
import { markdownTable, signed } from './markdown-table.js';
import { renderSvg } from './render-svg.js';

type Model = 'cnn' | 'separate' | 'joint';
const MODELS: readonly Model[] = ['cnn', 'separate', 'joint'];

export interface PairAtlasCell {
  /** The two classes, smaller first. */
  readonly pair: readonly [number, number];
  readonly trainSize: number;
  /** Finished runs per model. */
  readonly runs: Readonly<Record<Model, number>>;
  /** Mean final test accuracy per model (%), null without runs. */
  readonly accuracy: Readonly<Record<Model, number | null>>;
  /** Separate pMoE's routing rate after training (%): the class item among its expert's top l. */
  readonly separateRoutingRate: number | null;
  /** Accuracy of separate / joint pMoE minus the CNN's (percentage points). */
  readonly separateMargin: number | null;
  readonly jointMargin: number | null;
}

export interface PairPredictor extends PairSeparability {
  readonly pair: readonly [number, number];
}

export interface PairCorrelation {
  readonly trainSize: number;
  readonly predictor: 'meanDirectionRate' | 'projectionMargin';
  readonly pairs: number;
  readonly pearson: number | null;
  readonly spearman: number | null;
}

export interface PairAtlasReport {
  readonly experiment: string;
  readonly title: string;
  readonly generatedAt: string;
  readonly sources: readonly string[];
  readonly regenerate: string;
  readonly dataSource: string;
  readonly protocol: {
    readonly epochs: readonly number[];
    readonly routerEpochs: readonly number[];
    readonly seedsPerCell: readonly number[];
    readonly gridSize: number;
    readonly patchesPerExpert: number;
  };
  readonly cells: readonly PairAtlasCell[];
  readonly predictors: readonly PairPredictor[];
  readonly correlations: readonly PairCorrelation[];
  readonly findings: readonly string[];
  readonly runs: { readonly ok: number; readonly failed: number; readonly wallTimeMs: number };
  readonly warnings: readonly string[];
}

export interface PairAtlasContext {
  readonly sources: readonly string[];
  readonly generatedAt: Date;
  readonly regenerate: string;
}

const mean = (values: readonly number[]) => (values.length === 0 ? null : values.reduce((s, v) => s + v, 0) / values.length);
const distinct = (values: readonly number[]) => [...new Set(values)].sort((a, b) => a - b);
const finite = (value: number | null | undefined): value is number => typeof value === 'number' && Number.isFinite(value);
const pairName = ([a, b]: readonly [number, number]) => `${a}-${b}`;

/** The pair-atlas lines of results files, merged by key (a finished line wins over a failed one). */
export function readPairAtlasLines(paths: readonly string[]): ResultLine[] {
  const byKey = new Map<string, ResultLine>();
  for (const path of paths) {
    for (const line of readResultsForReport(path)) {
      if (line.experiment !== PAIR_ATLAS_EXPERIMENT) continue;
      const earlier = byKey.get(line.key);
      if (!earlier || (earlier.status === 'failed' && line.status === 'ok')) byKey.set(line.key, line);
    }
  }
  return [...byKey.values()];
}

/** Per (pair, N): the mean numbers of each model's finished runs. */
export function pairAtlasCells(lines: readonly ResultLine[]): PairAtlasCell[] {
  const groups = new Map<string, { pair: [number, number]; trainSize: number; records: Record<Model, PatchRunRecord[]> }>();
  for (const line of lines) {
    if (line.status !== 'ok' || 'kind' in line.record) continue;
    const record = line.record as PatchRunRecord;
    const digits = (record.data as { discriminativeDigits?: readonly number[] }).discriminativeDigits ?? [];
    if (digits.length !== 2) continue;
    const pair = [Math.min(digits[0], digits[1]), Math.max(digits[0], digits[1])] as [number, number];
    const key = `${pairName(pair)}:${record.data.trainSize}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { pair, trainSize: record.data.trainSize, records: { cnn: [], separate: [], joint: [] } }));
    const model = record.training.model as Model;
    if (MODELS.includes(model)) group.records[model].push(record);
  }
  const cells = [...groups.values()].map(({ pair, trainSize, records }) => {
    const accuracy = Object.fromEntries(
      MODELS.map((m) => [m, mean(records[m].map((r) => 100 * (r.finalTestAccuracy ?? NaN)).filter(Number.isFinite))]),
    ) as Record<Model, number | null>;
    const margin = (m: Model) => (finite(accuracy[m]) && finite(accuracy.cnn) ? accuracy[m]! - accuracy.cnn! : null);
    return {
      pair,
      trainSize,
      runs: { cnn: records.cnn.length, separate: records.separate.length, joint: records.joint.length },
      accuracy,
      separateRoutingRate: mean(records.separate.map((r) => 100 * (r.routingRate?.rate ?? NaN)).filter(Number.isFinite)),
      separateMargin: margin('separate'),
      jointMargin: margin('joint'),
    };
  });
  return cells.sort((x, y) => x.trainSize - y.trainSize || x.pair[0] - y.pair[0] || x.pair[1] - y.pair[1]);
}

/** Pearson and Spearman correlation of each predictor with separate's routing rate, per N. */
export function pairCorrelations(cells: readonly PairAtlasCell[], predictors: readonly PairPredictor[]): PairCorrelation[] {
  const byPair = new Map(predictors.map((p) => [pairName(p.pair), p]));
  return distinct(cells.map((c) => c.trainSize)).flatMap((trainSize) =>
    (['meanDirectionRate', 'projectionMargin'] as const).map((predictor) => {
      const used = cells.filter((c) => c.trainSize === trainSize && finite(c.separateRoutingRate) && byPair.has(pairName(c.pair)));
      const x = used.map((c) => byPair.get(pairName(c.pair))![predictor]);
      const y = used.map((c) => c.separateRoutingRate!);
      const orNull = (v: number) => (Number.isFinite(v) ? v : null);
      return { trainSize, predictor, pairs: used.length, pearson: orNull(pearson(x, y)), spearman: orNull(spearman(x, y)) };
    }),
  );
}

const fixed = (value: number | null, digits = 1) => (finite(value) ? value.toFixed(digits) : '—');

function findingsOf(cells: readonly PairAtlasCell[], correlations: readonly PairCorrelation[]): string[] {
  const out: string[] = [];
  for (const trainSize of distinct(cells.map((c) => c.trainSize))) {
    const at = cells.filter((c) => c.trainSize === trainSize);
    const routed = at.filter((c) => finite(c.separateRoutingRate)).sort((x, y) => x.separateRoutingRate! - y.separateRoutingRate!);
    if (routed.length > 0) {
      const low = routed[0];
      const high = routed.at(-1)!;
      const below = routed.filter((c) => c.separateRoutingRate! < 90).length;
      out.push(
        `N = ${trainSize}: separate pMoE's routing rate ranges from ${fixed(low.separateRoutingRate)}% (pair ${pairName(low.pair)}) to ${fixed(high.separateRoutingRate)}% (pair ${pairName(high.pair)}) over ${routed.length} pairs; ${below} pair${below === 1 ? '' : 's'} below 90%.`,
      );
    }
    for (const [model, read] of [
      ['separate', (c: PairAtlasCell) => c.separateMargin],
      ['joint', (c: PairAtlasCell) => c.jointMargin],
    ] as const) {
      const margins = at.map(read).filter(finite);
      if (margins.length === 0) continue;
      const ahead = margins.filter((m) => m > 0).length;
      out.push(
        `N = ${trainSize}: ${model} pMoE is ahead of the CNN on ${ahead} of ${margins.length} pairs (mean margin ${signed(mean(margins), 2)} points, from ${signed(Math.min(...margins), 2)} to ${signed(Math.max(...margins), 2)}).`,
      );
    }
    const pairsWithBoth = at.filter((c) => finite(c.separateRoutingRate) && finite(c.separateMargin));
    const r = pearson(
      pairsWithBoth.map((c) => c.separateRoutingRate!),
      pairsWithBoth.map((c) => c.separateMargin!),
    );
    if (Number.isFinite(r))
      out.push(`N = ${trainSize}: across pairs, separate's routing rate and its margin over the CNN correlate with Pearson r = ${r.toFixed(2)}.`);
    for (const c of correlations.filter((c) => c.trainSize === trainSize)) {
      const name =
        c.predictor === 'meanDirectionRate'
          ? 'the routing rate of the class-mean-difference direction'
          : 'the projection margin along the class-mean difference';
      out.push(
        `N = ${trainSize}: ${name} predicts separate's routing rate with Pearson r = ${fixed(c.pearson, 2)}, Spearman rho = ${fixed(c.spearman, 2)} (${c.pairs} pairs).`,
      );
    }
  }
  return out;
}

/** Separability of every pair in `cells`, on the training split of the runs' data. */
async function predictorsFor(
  source: string,
  dir: string | undefined,
  pairs: readonly (readonly [number, number])[],
  patchCount: number,
  patchesPerExpert: number,
): Promise<PairPredictor[]> {
  const split = source === 'fashion-patch' ? await loadFashionMnist('train', dir) : await loadMnist('train', dir);
  const projections = await classProjections(split);
  const predictors: PairPredictor[] = [];
  for (const pair of pairs) {
    // One pair's separability is tens of milliseconds: the event loop turns between pairs (a Ctrl-C is handled at once).
    await turnEventLoop();
    const fillers = Array.from({ length: 10 }, (_, d) => d).filter((d) => d !== pair[0] && d !== pair[1]);
    predictors.push({ pair, ...pairSeparability(projections, pair, fillers, { patchCount, patchesPerExpert }) });
  }
  return predictors;
}

export async function buildPairAtlasReport(lines: readonly ResultLine[], context: PairAtlasContext): Promise<PairAtlasReport> {
  const ok = lines.flatMap((line) => (line.status === 'ok' && !('kind' in line.record) ? [line.record as PatchRunRecord] : []));
  const warnings: string[] = [];
  const sources = [...new Set(ok.map((r) => r.data.source))];
  if (sources.length > 1) warnings.push(`runs on several data sources (${sources.join(', ')}): the predictors use ${sources[0]}`);
  const first = ok[0]?.data as { source: string; gridSize?: number; dir?: string } | undefined;
  const gridSize = first?.gridSize ?? 4;
  const patchesPerExpert = ok.find((r) => r.training.model === 'separate')?.model.patchesPerExpert ?? 2;
  const cells = pairAtlasCells(lines);
  const pairs = [...new Map(cells.map((c) => [pairName(c.pair), c.pair])).values()];
  const predictors = first ? await predictorsFor(first.source, first.dir, pairs, gridSize * gridSize, patchesPerExpert) : [];
  const correlations = pairCorrelations(cells, predictors);
  const seedsPerCell = distinct(cells.flatMap((c) => MODELS.map((m) => c.runs[m]).filter((n) => n > 0)));
  return {
    experiment: PAIR_ATLAS_EXPERIMENT,
    title: "Pair atlas: separate pMoE's routing and each pMoE's margin over the CNN, for every pair of classes",
    generatedAt: context.generatedAt.toISOString(),
    sources: context.sources,
    regenerate: context.regenerate,
    dataSource: first?.source ?? 'none',
    protocol: {
      epochs: distinct(ok.map((r) => r.training.epochs)),
      routerEpochs: distinct(ok.flatMap((r) => (r.training.model === 'separate' && r.training.routerEpochs !== undefined ? [r.training.routerEpochs] : []))),
      seedsPerCell,
      gridSize,
      patchesPerExpert,
    },
    cells,
    predictors,
    correlations,
    findings: findingsOf(cells, correlations),
    runs: { ok: ok.length, failed: lines.length - ok.length, wallTimeMs: ok.reduce((s, r) => s + r.wallTimeMs, 0) },
    warnings,
  };
}

/** Heat maps over the pairs: one row per N; separate's routing rate, both margins, and the predicted rate. */
export function pairAtlasChartSpec(report: Pick<PairAtlasReport, 'cells' | 'predictors' | 'title'>): TopLevelSpec {
  const predicted = new Map(report.predictors.map((p) => [pairName(p.pair), 100 * p.meanDirectionRate]));
  const panels = [
    { title: "separate pMoE's routing rate (%)", read: (c: PairAtlasCell) => c.separateRoutingRate, scale: { scheme: 'viridis', domain: [0, 100] } },
    { title: 'separate pMoE − CNN (points)', read: (c: PairAtlasCell) => c.separateMargin, scale: { scheme: 'redblue' } },
    { title: 'joint pMoE − CNN (points)', read: (c: PairAtlasCell) => c.jointMargin, scale: { scheme: 'redblue' } },
    {
      title: 'class-mean direction: routing rate (%)',
      read: (c: PairAtlasCell) => predicted.get(pairName(c.pair)) ?? null,
      scale: { scheme: 'viridis', domain: [0, 100] },
    },
  ];
  const axis = (field: string, title: string) => ({ field, type: 'ordinal' as const, title, scale: { domain: Array.from({ length: 10 }, (_, d) => d) } });
  const rows = distinct(report.cells.map((c) => c.trainSize)).map((trainSize) => ({
    hconcat: panels.map((panel) => {
      const values = report.cells
        .filter((c) => c.trainSize === trainSize && finite(panel.read(c)))
        .map((c) => ({ a: c.pair[0], b: c.pair[1], value: panel.read(c)! }));
      // Margins: a domain symmetric about 0, so white is "no difference" whatever the signs present.
      const reach = Math.max(1, ...values.map((v) => Math.abs(v.value)));
      const scale = panel.scale.scheme === 'redblue' ? { scheme: 'redblue', domain: [-reach, reach] } : panel.scale;
      return {
        title: { text: `${panel.title}, N = ${trainSize}`, fontSize: 11 },
        width: 190,
        height: 190,
        data: { values },
        encoding: { x: axis('b', 'larger class'), y: axis('a', 'smaller class') },
        layer: [
          {
            mark: { type: 'rect' as const },
            encoding: {
              color: { field: 'value', type: 'quantitative' as const, title: null, scale, legend: { orient: 'bottom' as const, gradientLength: 150 } },
            },
          },
          { mark: { type: 'text' as const, fontSize: 8 }, encoding: { text: { field: 'value', type: 'quantitative' as const, format: '.0f' } } },
        ],
      };
    }),
    resolve: { scale: { color: 'independent' as const } },
  }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: report.title,
    background: 'white',
    vconcat: rows,
    resolve: { scale: { color: 'independent' } },
  } as TopLevelSpec;
}

export function pairAtlasMarkdown(report: PairAtlasReport, svgFileName: string): string {
  const p = report.protocol;
  const out = [
    `# ${PAIR_ATLAS_EXPERIMENT}: ${report.title}`,
    '',
    `Generated at ${report.generatedAt} from ${report.sources.map((s) => `\`${s}\``).join(', ')}.`,
    '',
    `How to regenerate: \`${report.regenerate}\``,
    '',
    `![${report.title}](${svgFileName})`,
    '',
    '## What was measured',
    '',
    `Data: ${report.dataSource}, ${p.gridSize}x${p.gridSize} grids; for each pair of classes (a, b), the larger is class 0 and the smaller class 1, the other eight fill the other cells. ` +
      `Epochs ${p.epochs.join(', ')}; separate router epochs ${p.routerEpochs.join(', ') || '—'}; runs per model and cell ${p.seedsPerCell.join(', ')}; ` +
      `${report.runs.ok} finished runs, ${report.runs.failed} failed; ${(report.runs.wallTimeMs / 3_600_000).toFixed(2)} hours of run wall time in all. ` +
      `Separate's routing rate is the share of test samples whose class item is among its class expert's top l = ${p.patchesPerExpert} patches after training. ` +
      "The predictors are computed from the training split alone: the routing rate of a router that has learned exactly the class-mean difference (what separate training's linear router loss pushes its weights towards, since the fillers are drawn alike in both classes), and the projection margin of the class item over its nearest filler along that direction, in standard deviations (the smaller of the two classes).",
    '',
    '## Findings',
    '',
    ...report.findings.map((f) => `- ${f}`),
    '',
    '## Per pair',
    '',
    markdownTable(
      [
        'pair',
        'N',
        'CNN (%)',
        'separate (%)',
        'joint (%)',
        'separate − CNN',
        'joint − CNN',
        "separate's routing (%)",
        'predicted routing (%)',
        'projection margin',
        'runs (cnn/sep/joint)',
      ],
      report.cells.map((c) => {
        const predictor = report.predictors.find((q) => pairName(q.pair) === pairName(c.pair));
        return [
          pairName(c.pair),
          String(c.trainSize),
          fixed(c.accuracy.cnn, 2),
          fixed(c.accuracy.separate, 2),
          fixed(c.accuracy.joint, 2),
          signed(c.separateMargin, 2),
          signed(c.jointMargin, 2),
          fixed(c.separateRoutingRate),
          predictor ? fixed(100 * predictor.meanDirectionRate) : '—',
          predictor ? fixed(predictor.projectionMargin, 2) : '—',
          `${c.runs.cnn}/${c.runs.separate}/${c.runs.joint}`,
        ];
      }),
      ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    ),
    '',
  ];
  if (report.warnings.length > 0) out.push('## Warnings', '', ...report.warnings.map((w) => `- ${w}`), '');
  return out.join('\n');
}

function toJson(value: unknown): string {
  return `${JSON.stringify(value, (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
}

/** Writes pair-atlas.svg, .md, .json and .vl.json to `outDir`; the summary has the shape `pmoe report` lists. */
export async function writePairAtlasReport(resultsPaths: readonly string[], outDir: string, context: PairAtlasContext) {
  const report = await buildPairAtlasReport(readPairAtlasLines(resultsPaths), context);
  const spec = pairAtlasChartSpec(report);
  const { svg, warnings } = await renderSvg(spec);
  const full = warnings.length === 0 ? report : { ...report, warnings: [...report.warnings, ...warnings.map((w) => `chart: ${w}`)] };
  await mkdir(outDir, { recursive: true });
  const base = join(outDir, PAIR_ATLAS_EXPERIMENT);
  const files = { svg: `${base}.svg`, markdown: `${base}.md`, json: `${base}.json`, vegaLite: `${base}.vl.json` };
  await Promise.all([
    writeFileAtomically(files.svg, svg),
    writeFileAtomically(files.markdown, pairAtlasMarkdown(full, `${PAIR_ATLAS_EXPERIMENT}.svg`)),
    writeFileAtomically(files.json, toJson(full)),
    writeFileAtomically(files.vegaLite, toJson(spec)),
  ]);
  return {
    experiment: PAIR_ATLAS_EXPERIMENT,
    okRuns: full.runs.ok,
    failedRuns: full.runs.failed,
    points: full.cells.length,
    files,
    warnings: full.warnings,
    report: full,
  };
}
