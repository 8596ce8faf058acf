/**
 * The report of `pmoe reproduce routers` (src/experiments/routers.ts): per data set, router and N,
 * test accuracy, discriminative routing rate and the routers' utilisation (mean and spread over
 * seeds); the samples each model needs to reach the CNN's accuracy at the largest N; and a
 * figure with a column per data set and a row per measure (accuracy, routing rate, patches no
 * expert took, choices dropped for want of capacity).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { readResults, type ResultLine } from '../experiments/results-file.js';
import {
  ROUTER_DATASETS,
  ROUTER_MODELS,
  ROUTERS_EXPERIMENT,
  routerDatasetOf,
  routerVariantOf,
  type RouterDataset,
  type RouterModel,
} from '../experiments/routers.js';
import type { PatchRunRecord } from '../training/run.js';
import { writeFileAtomically } from '../util/atomic-write.js';
import { describeCrossing, firstCrossing, type Crossing } from './crossing.js';
import { markdownTable } from './markdown-table.js';
import { renderSvg } from './render-svg.js';

/** Mean and sample standard deviation over seeds; null without runs. */
export interface Spread {
  readonly mean: number;
  readonly std: number;
  readonly runs: number;
}

export interface RoutersCell {
  readonly dataset: RouterDataset;
  readonly model: RouterModel;
  readonly trainSize: number;
  /** Final test accuracy (%). */
  readonly accuracy: Spread;
  /** Discriminative routing rate after training (%), the joint criterion; routers only. */
  readonly routingRate: Spread | null;
  /** Share of test patches no expert took (%). */
  readonly untakenPatches: Spread | null;
  /** Share of (image, expert) pairs where the expert took nothing (%). */
  readonly emptyPairs: Spread | null;
  /** Choices dropped for want of capacity, per patch, in the last epoch's training steps. */
  readonly droppedPerPatch: Spread | null;
  /** Coefficient of variation of the patches per expert (0: every expert equally loaded). */
  readonly loadSpread: Spread | null;
  readonly wallTimeMs: number;
}

export interface SamplesNeeded {
  readonly dataset: RouterDataset;
  readonly model: RouterModel;
  /** The CNN's mean accuracy (%) at the largest N measured: the level each model must reach. */
  readonly level: number;
  readonly crossing: Crossing;
}

export interface RoutersReport {
  readonly experiment: string;
  readonly title: string;
  readonly generatedAt: string;
  readonly sources: readonly string[];
  readonly regenerate: string;
  readonly protocol: { readonly epochs: readonly number[]; readonly seeds: readonly number[]; readonly sizes: readonly number[] };
  readonly cells: readonly RoutersCell[];
  readonly samplesNeeded: readonly SamplesNeeded[];
  readonly findings: readonly string[];
  readonly runs: { readonly ok: number; readonly failed: number; readonly wallTimeMs: number };
  readonly warnings: readonly string[];
}

export interface RoutersContext {
  readonly sources: readonly string[];
  readonly generatedAt: Date;
  readonly regenerate: string;
}

const LABELS: Record<RouterModel, string> = {
  cnn: 'CNN',
  'expert-choice': "pMoE's expert choice per image",
  'token-choice': 'token choice (V-MoE)',
  'token-choice-bpr': 'token choice + batch priority',
  'batch-expert-choice': 'expert choice over the batch',
  'soft-moe': 'Soft MoE',
};
const DATASET_LABELS: Record<RouterDataset, string> = {
  synthetic: 'synthetic data model',
  mnist: 'MNIST-patch 1 vs 0',
  'mnist-hard': 'MNIST-patch hard pair',
  fashion: 'Fashion-patch',
};

function spread(values: readonly number[]): Spread | null {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return null;
  const mean = finite.reduce((s, v) => s + v, 0) / finite.length;
  const std = finite.length < 2 ? 0 : Math.sqrt(finite.reduce((s, v) => s + (v - mean) ** 2, 0) / (finite.length - 1));
  return { mean, std, runs: finite.length };
}

function coefficientOfVariation(values: readonly number[]): number {
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  if (mean === 0) return NaN;
  return Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length) / mean;
}

export function readRoutersLines(paths: readonly string[]): ResultLine[] {
  const byKey = new Map<string, ResultLine>();
  for (const path of paths) {
    for (const line of readResults(path).lines) {
      if (line.experiment !== ROUTERS_EXPERIMENT) continue;
      const earlier = byKey.get(line.key);
      if (!earlier || (earlier.status === 'failed' && line.status === 'ok')) byKey.set(line.key, line);
    }
  }
  return [...byKey.values()];
}

/** Per (data set, model, N): the spread over seeds of each measure. */
export function routersCells(records: readonly PatchRunRecord[]): RoutersCell[] {
  const groups = new Map<string, { dataset: RouterDataset; model: RouterModel; trainSize: number; records: PatchRunRecord[] }>();
  for (const record of records) {
    const dataset = routerDatasetOf(record.data as { source: string; discriminativeDigits?: number[] });
    const model = routerVariantOf(record.model, record.training.model);
    if (!dataset || !model) continue;
    const id = JSON.stringify([dataset, model, record.data.trainSize]);
    const group = groups.get(id) ?? { dataset, model, trainSize: record.data.trainSize, records: [] };
    group.records.push(record);
    groups.set(id, group);
  }
  const order = (c: { dataset: RouterDataset; model: RouterModel; trainSize: number }) => [
    ROUTER_DATASETS.indexOf(c.dataset),
    ROUTER_MODELS.indexOf(c.model),
    c.trainSize,
  ];
  return [...groups.values()]
    .sort((a, b) => {
      const [x, y] = [order(a), order(b)];
      return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
    })
    .map(({ dataset, model, trainSize, records: rs }) => {
      const routed = model !== 'cnn';
      const of = (read: (r: PatchRunRecord) => number | undefined) => (routed ? spread(rs.map((r) => read(r) ?? NaN)) : null);
      return {
        dataset,
        model,
        trainSize,
        accuracy: spread(rs.map((r) => 100 * r.finalTestAccuracy))!,
        routingRate: of((r) => (r.routingRate ? 100 * r.routingRate.rate : undefined)),
        untakenPatches: of((r) => (r.utilisation ? 100 * r.utilisation.untakenPatches : undefined)),
        emptyPairs: of((r) => (r.utilisation ? 100 * r.utilisation.emptyPairs : undefined)),
        droppedPerPatch: of((r) => r.utilisation?.droppedPerPatch),
        loadSpread: of((r) => (r.utilisation ? coefficientOfVariation(r.utilisation.patchesPerExpert) : undefined)),
        wallTimeMs: rs.reduce((s, r) => s + r.wallTimeMs, 0),
      };
    });
}

/** For each data set and model: the smallest N at which its mean accuracy reaches the CNN's at the largest N. */
export function samplesNeeded(cells: readonly RoutersCell[]): SamplesNeeded[] {
  const out: SamplesNeeded[] = [];
  for (const dataset of ROUTER_DATASETS) {
    const cnn = cells.filter((c) => c.dataset === dataset && c.model === 'cnn').sort((a, b) => a.trainSize - b.trainSize);
    if (cnn.length === 0) continue;
    const level = cnn.at(-1)!.accuracy.mean;
    for (const model of ROUTER_MODELS) {
      const curve = cells.filter((c) => c.dataset === dataset && c.model === model).map((c) => ({ x: c.trainSize, y: c.accuracy.mean }));
      if (curve.length > 0) out.push({ dataset, model, level, crossing: firstCrossing(curve, level) });
    }
  }
  return out;
}

const crossingValue = (c: Crossing) => (c.kind === 'not-reached' ? Infinity : c.x);
const percent = (s: Spread | null, digits = 1) => (s ? `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}` : '—');

function findingsOf(cells: readonly RoutersCell[], needed: readonly SamplesNeeded[]): string[] {
  const findings: string[] = [];
  for (const dataset of ROUTER_DATASETS) {
    const here = needed.filter((n) => n.dataset === dataset && n.model !== 'cnn');
    if (here.length === 0) continue;
    const ranked = [...here].sort((a, b) => crossingValue(a.crossing) - crossingValue(b.crossing));
    const ours = here.find((n) => n.model === 'expert-choice');
    const text = ranked.map((n) => `${LABELS[n.model]} ${describeCrossing(n.crossing, 'N')}`).join('; ');
    findings.push(`${DATASET_LABELS[dataset]}: samples to reach the CNN's ${here[0].level.toFixed(1)}% (its accuracy at the largest N): ${text}.`);
    const smallest = Math.min(...cells.filter((c) => c.dataset === dataset).map((c) => c.trainSize));
    const atSmallest = cells.filter((c) => c.dataset === dataset && c.trainSize === smallest).sort((a, b) => b.accuracy.mean - a.accuracy.mean);
    if (atSmallest.length > 0) {
      findings.push(
        `${DATASET_LABELS[dataset]}, N = ${smallest}: ${atSmallest.map((c) => `${LABELS[c.model]} ${c.accuracy.mean.toFixed(1)}%`).join(', ')} (mean test accuracy, best first).`,
      );
    }
    if (ours) {
      const best = ranked.find((n) => n.model !== 'expert-choice');
      const beaten = ranked.filter((n) => crossingValue(n.crossing) < crossingValue(ours.crossing));
      findings.push(
        beaten.length === 0
          ? `${DATASET_LABELS[dataset]}: no other router reaches that level with fewer samples than the paper's expert choice${best ? ` (next: ${LABELS[best.model]})` : ''}.`
          : `${DATASET_LABELS[dataset]}: ${beaten.map((n) => LABELS[n.model]).join(', ')} reach${beaten.length === 1 ? 'es' : ''} that level with fewer samples than the paper's expert choice.`,
      );
    }
  }
  return findings;
}

const distinct = (values: readonly number[]) => [...new Set(values)].sort((a, b) => a - b);

export function buildRoutersReport(lines: readonly ResultLine[], context: RoutersContext): RoutersReport {
  const ok = lines.flatMap((line) => (line.status === 'ok' && !('kind' in line.record) ? [line.record as PatchRunRecord] : []));
  const cells = routersCells(ok);
  const needed = samplesNeeded(cells);
  const warnings: string[] = [];
  const incomplete = cells.filter((c) => c.accuracy.runs < Math.max(...cells.map((x) => x.accuracy.runs)));
  if (incomplete.length > 0) warnings.push(`${incomplete.length} cells have fewer finished runs than the others (the sweep is not finished, or runs failed)`);
  return {
    experiment: ROUTERS_EXPERIMENT,
    title: 'Routers at matched compute: test accuracy, discriminative routing and utilisation against N',
    generatedAt: context.generatedAt.toISOString(),
    sources: context.sources,
    regenerate: context.regenerate,
    protocol: {
      epochs: distinct(ok.map((r) => r.training.epochs)),
      seeds: distinct(cells.map((c) => c.accuracy.runs)),
      sizes: distinct(cells.map((c) => c.trainSize)),
    },
    cells,
    samplesNeeded: needed,
    findings: findingsOf(cells, needed),
    runs: { ok: ok.length, failed: lines.length - ok.length, wallTimeMs: ok.reduce((s, r) => s + r.wallTimeMs, 0) },
    warnings,
  };
}

const MEASURES: { readonly title: string; readonly read: (c: RoutersCell) => Spread | null; readonly routersOnly: boolean }[] = [
  { title: 'test accuracy (%)', read: (c) => c.accuracy, routersOnly: false },
  { title: 'discriminative routing rate (%)', read: (c) => c.routingRate, routersOnly: true },
  { title: 'test patches no expert took (%)', read: (c) => c.untakenPatches, routersOnly: true },
  { title: 'choices dropped per patch (training)', read: (c) => c.droppedPerPatch, routersOnly: true },
];

/** One column per data set, one row per measure: mean over seeds against N (log scale), ± one std. */
export function routersChartSpec(report: Pick<RoutersReport, 'cells' | 'title'>): TopLevelSpec {
  const datasets = ROUTER_DATASETS.filter((d) => report.cells.some((c) => c.dataset === d));
  const models = ROUTER_MODELS.filter((m) => report.cells.some((c) => c.model === m));
  const color = {
    field: 'model',
    type: 'nominal' as const,
    title: null,
    scale: { domain: models.map((m) => LABELS[m]) },
    legend: { orient: 'bottom' as const, columns: 3 },
  };
  const rows = MEASURES.map((measure) => ({
    hconcat: datasets.map((dataset) => {
      const values = report.cells
        .filter((c) => c.dataset === dataset && measure.read(c) !== null)
        .map((c) => {
          const s = measure.read(c)!;
          return { N: c.trainSize, model: LABELS[c.model], mean: s.mean, low: s.mean - s.std, high: s.mean + s.std };
        });
      const x = { field: 'N', type: 'quantitative' as const, scale: { type: 'log' as const }, title: 'N (training samples)' };
      return {
        title: { text: `${DATASET_LABELS[dataset]}: ${measure.title}`, fontSize: 11 },
        width: 200,
        height: 150,
        data: { values },
        layer: [
          {
            mark: { type: 'errorband' as const, opacity: 0.15 },
            encoding: { x, y: { field: 'low', type: 'quantitative' as const, title: null }, y2: { field: 'high' }, color },
          },
          {
            mark: { type: 'line' as const, point: true },
            encoding: { x, y: { field: 'mean', type: 'quantitative' as const, title: null, scale: { zero: false } }, color },
          },
        ],
      };
    }),
  }));
  return { $schema: 'https://vega.github.io/schema/vega-lite/v5.json', title: report.title, background: 'white', vconcat: rows } as TopLevelSpec;
}

export function routersMarkdown(report: RoutersReport, svgFileName: string): string {
  const p = report.protocol;
  const rows = report.cells.map((c) => [
    DATASET_LABELS[c.dataset],
    LABELS[c.model],
    String(c.trainSize),
    percent(c.accuracy, 2),
    percent(c.routingRate),
    percent(c.untakenPatches),
    percent(c.emptyPairs),
    c.droppedPerPatch ? c.droppedPerPatch.mean.toFixed(3) : '—',
    c.loadSpread ? c.loadSpread.mean.toFixed(3) : '—',
    String(c.accuracy.runs),
  ]);
  const out = [
    `# ${ROUTERS_EXPERIMENT}: ${report.title}`,
    '',
    `Generated at ${report.generatedAt} from ${report.sources.map((s) => `\`${s}\``).join(', ')}.`,
    '',
    `How to regenerate: \`${report.regenerate}\``,
    '',
    `![${report.title}](${svgFileName})`,
    '',
    '## What was measured',
    '',
    `Joint training at matched compute (every router makes k l patch-to-expert assignments per image on average; src/experiments/routers.ts), epochs ${p.epochs.join(', ')}, ` +
      `seeds per cell ${p.seeds.join(', ')}, N = ${p.sizes.join(', ')}; ${report.runs.ok} finished runs, ${report.runs.failed} failed; ` +
      `${(report.runs.wallTimeMs / 3_600_000).toFixed(2)} hours of training wall time in all. Values are mean ± standard deviation over seeds. ` +
      "The routing rate is the share of test images whose discriminative patch some expert takes with its largest gate (Soft MoE: each slot's patch of largest dispatch weight). " +
      "Samples needed: the smallest N at which a model's mean accuracy reaches the CNN's at the largest N, interpolated linearly between the measured N.",
    '',
    '## Findings',
    '',
    ...report.findings.map((f) => `- ${f}`),
    '',
    '## Samples needed to reach the CNN at the largest N',
    '',
    markdownTable(
      ['data', 'model', 'level (%)', 'samples needed'],
      report.samplesNeeded.map((n) => [DATASET_LABELS[n.dataset], LABELS[n.model], n.level.toFixed(2), describeCrossing(n.crossing, 'N')]),
      ['left', 'left', 'right', 'left'],
    ),
    '',
    '## Per data set, model and N',
    '',
    markdownTable(
      [
        'data',
        'model',
        'N',
        'test accuracy (%)',
        'routing rate (%)',
        'untaken patches (%)',
        'empty (image, expert) (%)',
        'dropped per patch',
        'load CV',
        'runs',
      ],
      rows,
      ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    ),
    '',
  ];
  if (report.warnings.length > 0) out.push('## Warnings', '', ...report.warnings.map((w) => `- ${w}`), '');
  return out.join('\n');
}

function toJson(value: unknown): string {
  return `${JSON.stringify(value, (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
}

/** Writes routers.svg, .md, .json and .vl.json to `outDir`; the summary has the shape `pmoe report` lists. */
export async function writeRoutersReport(resultsPaths: readonly string[], outDir: string, context: RoutersContext) {
  const report = buildRoutersReport(readRoutersLines(resultsPaths), context);
  const spec = routersChartSpec(report);
  const { svg, warnings } = await renderSvg(spec);
  const full = warnings.length === 0 ? report : { ...report, warnings: [...report.warnings, ...warnings.map((w) => `chart: ${w}`)] };
  await mkdir(outDir, { recursive: true });
  const base = join(outDir, ROUTERS_EXPERIMENT);
  const files = { svg: `${base}.svg`, markdown: `${base}.md`, json: `${base}.json`, vegaLite: `${base}.vl.json` };
  await Promise.all([
    writeFileAtomically(files.svg, svg),
    writeFileAtomically(files.markdown, routersMarkdown(full, `${ROUTERS_EXPERIMENT}.svg`)),
    writeFileAtomically(files.json, toJson(full)),
    writeFileAtomically(files.vegaLite, toJson(spec)),
  ]);
  return {
    experiment: ROUTERS_EXPERIMENT,
    okRuns: full.runs.ok,
    failedRuns: full.runs.failed,
    points: full.cells.length,
    files,
    warnings: full.warnings,
    report: full,
  };
}
