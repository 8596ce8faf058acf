/**
 * The report of the spurious-correlation experiment (src/experiments/spurious.ts): per part (the
 * two-layer models on MNIST and Fashion grids, the synthetic data model, WRN on quadrants), data set,
 * strength s, model and N, accuracy on the balanced test set, the worst group's accuracy, accuracy on
 * the reversed set and on the test set without the feature, and for pMoE where its routers send the
 * class's patch and the spurious one; figures in the paper's form (balanced accuracy against N per
 * model, and the worst group's), and paired comparisons: each model at s against itself at s = 0.5,
 * and pMoE against the CNN (WRN-pMoE against WRN) on the same training sets.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { PAPER_WRN } from '../experiments/paper-numbers.js';
import { SPURIOUS_EXPERIMENT } from '../experiments/spurious.js';
import { writeFileAtomically } from '../util/atomic-write.js';
import { SERIES_COLOURS } from './chart-spec.js';
import { isImageLine, type OkLine, type ReportLine } from './load-results.js';
import { markdownTable, signed } from './markdown-table.js';
import { meanWithInterval } from './paired-gap.js';
import { renderSvg } from './render-svg.js';
import { compareSeriesNames, mean, sampleStd } from './statistics.js';

type Part = 'grids' | 'synthetic' | 'wrn';
type Metric = 'balanced' | 'worstGroup' | 'reversed' | 'test';
const METRICS: readonly Metric[] = ['balanced', 'worstGroup', 'reversed', 'test'];
const METRIC_TITLES: Record<Metric, string> = {
  balanced: 'balanced test set',
  worstGroup: 'worst group',
  reversed: 'reversed set',
  test: 'test set without the feature',
};

/** One finished run, as the report reads it (percentages). */
interface SpuriousRun {
  readonly key: string;
  readonly part: Part;
  readonly dataset: string;
  readonly strength: number;
  readonly model: string;
  readonly trainSize: number;
  readonly seed: number;
  readonly values: Readonly<Record<Metric, number>>;
  /** The last evaluated epoch's training accuracy (%). */
  readonly trainAccuracy: number;
  /** pMoE: the most one expert takes of the class's patch and of the spurious one, averaged over classes and items (%). */
  readonly routing?: { readonly unit: 'images' | 'patches'; readonly truePatch: number; readonly spuriousPatch: number };
  readonly wallTimeMs: number;
}

interface Summary {
  readonly mean: number;
  readonly std: number | null;
  readonly count: number;
}

/** The runs of one (part, data set, s, model, N). */
export interface SpuriousCell {
  readonly part: Part;
  readonly dataset: string;
  readonly strength: number;
  readonly model: string;
  readonly trainSize: number;
  readonly runs: number;
  readonly metrics: Readonly<Record<Metric, Summary>>;
  readonly trainAccuracy: Summary;
  readonly routing?: { readonly unit: 'images' | 'patches'; readonly truePatch: Summary; readonly spuriousPatch: Summary };
}

/** A mean difference over pairs of runs with its 95% t interval. */
export interface PairedDifference {
  readonly part: Part;
  readonly dataset: string;
  readonly strength: number;
  /** 'CNN' etc. against the same model at s = 0.5, or 'joint pMoE − CNN' at the same s. */
  readonly comparison: string;
  readonly metric: Metric;
  readonly pairs: number;
  readonly meanDifference: number;
  readonly interval: readonly [number, number] | null;
}

export interface SpuriousReport {
  readonly experiment: string;
  readonly title: string;
  readonly generatedAt: string;
  readonly sources: readonly string[];
  readonly regenerate: string;
  readonly cells: readonly SpuriousCell[];
  /** Each model at each s against itself at s = 0.5, paired by (N, seed). */
  readonly againstNoAssociation: readonly PairedDifference[];
  /** pMoE − CNN (WRN-pMoE − WRN) at each s, paired by (N, seed): the same training set. */
  readonly againstBaseline: readonly PairedDifference[];
  readonly findings: readonly string[];
  readonly runs: { readonly ok: number; readonly failed: number; readonly wallTimeMs: number };
  readonly warnings: readonly string[];
}

export interface SpuriousContext {
  readonly sources: readonly string[];
  readonly generatedAt: Date;
  readonly regenerate: string;
}

const MODEL_LABELS: Record<string, string> = { cnn: 'CNN', separate: 'separate pMoE', joint: 'joint pMoE', wrn: 'WRN', 'wrn-pmoe': 'WRN-pMoE' };
const DATASET_LABELS: Record<string, string> = {
  'mnist-patch': 'MNIST-patch',
  'fashion-patch': 'Fashion-patch',
  synthetic: 'synthetic data model',
  'mnist-quadrants': 'MNIST quadrants',
  'fashion-quadrants': 'Fashion-MNIST quadrants',
};
const datasetLabel = (source: string) => DATASET_LABELS[source] ?? source;
const percent = (value: number | null | undefined) => (typeof value === 'number' ? 100 * value : NaN);

function summary(values: readonly number[]): Summary {
  const finite = values.filter(Number.isFinite);
  return { mean: mean(finite), std: sampleStd(finite), count: finite.length };
}

/** The most one expert takes, per class (or item), averaged over the classes (items). */
function largestShare(
  experts: readonly { truePatch: readonly (number | null)[]; spuriousPatch: readonly (number | null)[] }[],
  which: 'truePatch' | 'spuriousPatch',
) {
  const width = experts[0]?.[which].length ?? 0;
  return mean(Array.from({ length: width }, (_, c) => Math.max(...experts.map((e) => percent(e[which][c])))));
}

/** The report's view of one line; null for a line without spurious metrics. */
function readRun(line: OkLine): SpuriousRun | null {
  const record = line.record;
  const spurious = record.spurious;
  if (!spurious) return null;
  const image = isImageLine(line);
  const source = record.data.source;
  const part: Part = image ? 'wrn' : source === 'synthetic' ? 'synthetic' : 'grids';
  let model: string;
  if (isImageLine(line)) model = MODEL_LABELS[line.record.model.architecture] ?? line.record.model.architecture;
  else {
    const kind = 'training' in record && 'model' in record.training ? String(record.training.model) : 'joint';
    const l = 'patchesPerExpert' in record.model ? record.model.patchesPerExpert : undefined;
    model = `${MODEL_LABELS[kind] ?? kind}${part === 'synthetic' && kind !== 'cnn' && l !== undefined ? `, l = ${l}` : ''}`;
  }
  const experts = spurious.routing?.experts ?? [];
  return {
    key: line.key,
    part,
    dataset: source,
    strength: spurious.strength,
    model,
    trainSize: record.data.trainSize,
    seed: record.training.seed,
    values: {
      balanced: percent(spurious.balancedAccuracy),
      worstGroup: percent(spurious.worstGroupAccuracy),
      reversed: percent(spurious.reversedAccuracy),
      test: percent(record.finalTestAccuracy),
    },
    trainAccuracy: percent(record.epochs.at(-1)?.trainAccuracy),
    ...(spurious.routing && experts.length > 0
      ? { routing: { unit: spurious.routing.unit, truePatch: largestShare(experts, 'truePatch'), spuriousPatch: largestShare(experts, 'spuriousPatch') } }
      : {}),
    wallTimeMs: record.wallTimeMs,
  };
}

const PART_ORDER: readonly Part[] = ['grids', 'synthetic', 'wrn'];
const DATASET_ORDER = Object.keys(DATASET_LABELS);
const MODEL_ORDER = Object.values(MODEL_LABELS);
const modelRank = (model: string) => {
  const at = MODEL_ORDER.findIndex((label) => model === label || model.startsWith(`${label},`));
  return at < 0 ? MODEL_ORDER.length : at;
};
const compareModels = (a: string, b: string) => modelRank(a) - modelRank(b) || compareSeriesNames(a, b);

export function spuriousCells(runs: readonly SpuriousRun[]): SpuriousCell[] {
  const groups = new Map<string, SpuriousRun[]>();
  for (const run of runs) {
    const id = JSON.stringify([run.part, run.dataset, run.strength, run.model, run.trainSize]);
    groups.set(id, [...(groups.get(id) ?? []), run]);
  }
  return [...groups.values()]
    .map((group) => {
      const [first] = group;
      const routed = group.flatMap((run) => (run.routing ? [run.routing] : []));
      return {
        part: first.part,
        dataset: first.dataset,
        strength: first.strength,
        model: first.model,
        trainSize: first.trainSize,
        runs: group.length,
        metrics: Object.fromEntries(METRICS.map((metric) => [metric, summary(group.map((run) => run.values[metric]))])) as Record<Metric, Summary>,
        trainAccuracy: summary(group.map((run) => run.trainAccuracy)),
        ...(routed.length > 0
          ? {
              routing: {
                unit: routed[0].unit,
                truePatch: summary(routed.map((r) => r.truePatch)),
                spuriousPatch: summary(routed.map((r) => r.spuriousPatch)),
              },
            }
          : {}),
      };
    })
    .sort(
      (a, b) =>
        PART_ORDER.indexOf(a.part) - PART_ORDER.indexOf(b.part) ||
        DATASET_ORDER.indexOf(a.dataset) - DATASET_ORDER.indexOf(b.dataset) ||
        a.strength - b.strength ||
        compareModels(a.model, b.model) ||
        a.trainSize - b.trainSize,
    );
}

/** Mean over pairs (same part, data set, N and seed) of a run's value minus its partner's. */
function paired(runs: readonly SpuriousRun[], pick: (run: SpuriousRun) => string | null, partnerOf: (run: SpuriousRun) => SpuriousRun | undefined) {
  const out = new Map<string, { run: SpuriousRun; comparison: string; differences: Record<Metric, number[]> }>();
  for (const run of runs) {
    const comparison = pick(run);
    const partner = comparison === null ? undefined : partnerOf(run);
    if (!partner || comparison === null) continue;
    const id = JSON.stringify([run.part, run.dataset, run.strength, comparison]);
    const entry = out.get(id) ?? { run, comparison, differences: { balanced: [], worstGroup: [], reversed: [], test: [] } };
    for (const metric of METRICS) {
      const difference = run.values[metric] - partner.values[metric];
      if (Number.isFinite(difference)) entry.differences[metric].push(difference);
    }
    out.set(id, entry);
  }
  return [...out.values()].flatMap(({ run, comparison, differences }) =>
    METRICS.filter((metric) => differences[metric].length > 0).map((metric): PairedDifference => ({
      part: run.part,
      dataset: run.dataset,
      strength: run.strength,
      comparison,
      metric,
      pairs: differences[metric].length,
      ...meanWithInterval(differences[metric]),
    })),
  );
}

const runId = (run: SpuriousRun, changes: Partial<SpuriousRun>) => {
  const r = { ...run, ...changes };
  return JSON.stringify([r.part, r.dataset, r.strength, r.model, r.trainSize, r.seed]);
};

/** The two comparisons of the report, on every metric. */
export function spuriousComparisons(runs: readonly SpuriousRun[]): { againstNoAssociation: PairedDifference[]; againstBaseline: PairedDifference[] } {
  const byId = new Map(runs.map((run) => [runId(run, {}), run]));
  const againstNoAssociation = paired(
    runs,
    (run) => (run.strength === 0.5 ? null : run.model),
    (run) => byId.get(runId(run, { strength: 0.5 })),
  );
  const baselineOf = (run: SpuriousRun) => (run.part === 'wrn' ? 'WRN' : 'CNN');
  const againstBaseline = paired(
    runs,
    (run) => (run.model === baselineOf(run) || (run.part !== 'wrn' && !run.model.includes('pMoE')) ? null : `${run.model} − ${baselineOf(run)}`),
    (run) => byId.get(runId(run, { model: baselineOf(run) })),
  );
  const order = (a: PairedDifference, b: PairedDifference) =>
    PART_ORDER.indexOf(a.part) - PART_ORDER.indexOf(b.part) ||
    DATASET_ORDER.indexOf(a.dataset) - DATASET_ORDER.indexOf(b.dataset) ||
    compareModels(a.comparison, b.comparison) ||
    a.strength - b.strength ||
    METRICS.indexOf(a.metric) - METRICS.indexOf(b.metric);
  return { againstNoAssociation: againstNoAssociation.sort(order), againstBaseline: againstBaseline.sort(order) };
}

const fixed = (value: number | null | undefined, digits = 1) => (typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '—');
const interval = (bounds: readonly [number, number] | null) => (bounds ? `[${signed(bounds[0], 1)}, ${signed(bounds[1], 1)}]` : '—');
const beyond = (d: PairedDifference) => d.interval !== null && (d.interval[0] > 0 || d.interval[1] < 0);
const described = (d: PairedDifference) => `${signed(d.meanDifference, 1)} points (95% interval ${interval(d.interval)}, ${d.pairs} pairs)`;

function findingsOf(cells: readonly SpuriousCell[], comparisons: ReturnType<typeof spuriousComparisons>): string[] {
  const out: string[] = [];
  const strongest = (part: Part, dataset: string) => Math.max(...cells.filter((c) => c.part === part && c.dataset === dataset).map((c) => c.strength));
  for (const part of PART_ORDER) {
    for (const dataset of DATASET_ORDER) {
      const here = cells.filter((c) => c.part === part && c.dataset === dataset);
      if (here.length === 0) continue;
      const s = strongest(part, dataset);
      const drops = comparisons.againstNoAssociation.filter((d) => d.part === part && d.dataset === dataset && d.strength === s && d.metric === 'worstGroup');
      if (drops.length > 0) {
        out.push(
          `${datasetLabel(dataset)}, s = ${s}: worst-group accuracy against the same model at s = 0.5, mean over N and seeds: ` +
            drops.map((d) => `${d.comparison} ${described(d)}`).join('; ') +
            '.',
        );
      }
      const gaps = comparisons.againstBaseline.filter((d) => d.part === part && d.dataset === dataset && d.strength === s && d.metric === 'worstGroup');
      if (gaps.length > 0) {
        out.push(
          `${datasetLabel(dataset)}, s = ${s}: worst-group accuracy, paired on the same training sets: ` +
            gaps.map((d) => `${d.comparison} ${described(d)}${beyond(d) ? '' : ', within the spread'}`).join('; ') +
            '.',
        );
      }
      const routed = here.filter((c) => c.strength === s && c.routing);
      const models = [...new Set(routed.map((c) => c.model))];
      if (models.length > 0) {
        const unit = routed[0].routing!.unit;
        out.push(
          `${datasetLabel(dataset)}, s = ${s}: ${unit === 'images' ? 'share of balanced-set images whose patch one expert takes (the most any expert takes)' : "share of one expert's routed positions inside the quadrant (chance 25%)"}, class patch against spurious patch, mean over N: ` +
            models
              .map((model) => {
                const of = routed.filter((c) => c.model === model);
                return `${model} ${fixed(mean(of.map((c) => c.routing!.truePatch.mean)))}% against ${fixed(mean(of.map((c) => c.routing!.spuriousPatch.mean)))}%`;
              })
              .join('; ') +
            '.',
        );
      }
    }
  }
  return out;
}

export function buildSpuriousReport(lines: readonly ReportLine[], context: SpuriousContext): SpuriousReport {
  const ok = lines.filter((line): line is OkLine => line.status === 'ok');
  const runs = ok.map(readRun).filter((run): run is SpuriousRun => run !== null);
  const warnings = ok.filter((line) => readRun(line) === null).map((line) => `run ${line.key} records no spurious metrics: left out`);
  const cells = spuriousCells(runs);
  const comparisons = spuriousComparisons(runs);
  return {
    experiment: SPURIOUS_EXPERIMENT,
    title: 'Spurious correlations: balanced, worst-group and reversed test accuracy against N, by spurious strength s',
    generatedAt: context.generatedAt.toISOString(),
    sources: context.sources,
    regenerate: context.regenerate,
    cells,
    ...comparisons,
    findings: findingsOf(cells, comparisons),
    runs: { ok: runs.length, failed: lines.length - ok.length, wallTimeMs: runs.reduce((sum, run) => sum + run.wallTimeMs, 0) },
    warnings,
  };
}

/** One row of panels: a metric against N, one column per s, one line per model with ±1 std bars. */
function panelRow(cells: readonly SpuriousCell[], metric: Metric, title: string, x: 'trainSize' | 'strength', column: 'strength' | 'trainSize') {
  const values = cells
    .filter((c) => Number.isFinite(c.metrics[metric].mean))
    .map((c) => {
      const { mean: m, std } = c.metrics[metric];
      const columnLabel = `${column === 'strength' ? 's' : 'N'} = ${c[column]}`;
      return {
        model: c.model,
        x: c[x],
        column: columnLabel,
        mean: m,
        low: std === null ? m : Math.max(0, m - std),
        high: std === null ? m : Math.min(100, m + std),
      };
    });
  const columns = [...new Set(cells.map((c) => c[column]))].sort((a, b) => a - b).map((v) => `${column === 'strength' ? 's' : 'N'} = ${v}`);
  const models = [...new Set(values.map((v) => v.model))].sort(compareModels);
  const xValues = [...new Set(values.map((v) => v.x))].sort((a, b) => a - b);
  // N on a linear axis; the strengths (0.5 .. 0.99, crowded near 1) evenly spaced.
  const xAxis =
    x === 'trainSize'
      ? { field: 'x', type: 'quantitative' as const, title: 'N', scale: { zero: false }, axis: { values: xValues, format: 'd', grid: false } }
      : { field: 'x', type: 'ordinal' as const, title: 'spurious strength s', axis: { labelAngle: 0 } };
  const color = {
    field: 'model',
    type: 'nominal' as const,
    title: 'model',
    scale: { domain: models, range: models.map((_, i) => SERIES_COLOURS[i % SERIES_COLOURS.length]) },
    legend: { labelLimit: 300 },
  };
  const y = { field: 'mean', type: 'quantitative' as const, title: `${METRIC_TITLES[metric]} (%)`, scale: { zero: false } };
  return {
    title: { text: title, fontSize: 12 },
    data: { values },
    facet: { column: { field: 'column', type: 'ordinal' as const, title: null, sort: columns } },
    spec: {
      width: 170,
      height: 130,
      layer: [
        {
          mark: { type: 'errorbar' as const, ticks: true, opacity: 0.5 },
          encoding: { x: xAxis, y: { field: 'low', type: 'quantitative' as const, title: y.title }, y2: { field: 'high' }, color },
        },
        { mark: { type: 'line' as const, strokeWidth: 1.5 }, encoding: { x: xAxis, y, color } },
        { mark: { type: 'point' as const, filled: true, size: 25 }, encoding: { x: xAxis, y, color } },
      ],
    },
  };
}

/** The figure: per data set, balanced and worst-group accuracy against N per model, one column per s; the synthetic model against s. */
export function spuriousChartSpec(report: Pick<SpuriousReport, 'cells' | 'title'>): TopLevelSpec {
  const rows: object[] = [];
  for (const part of PART_ORDER) {
    for (const dataset of DATASET_ORDER) {
      const here = report.cells.filter((c) => c.part === part && c.dataset === dataset);
      if (here.length === 0) continue;
      const label = datasetLabel(dataset);
      if (part === 'synthetic') {
        rows.push(panelRow(here, 'worstGroup', `${label}: worst-group accuracy against s, one column per N`, 'strength', 'trainSize'));
        rows.push(panelRow(here, 'reversed', `${label}: reversed-set accuracy against s, one column per N`, 'strength', 'trainSize'));
      } else {
        rows.push(panelRow(here, 'balanced', `${label}: balanced test accuracy against N, one column per s`, 'trainSize', 'strength'));
        rows.push(panelRow(here, 'worstGroup', `${label}: worst-group accuracy against N`, 'trainSize', 'strength'));
      }
    }
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: report.title,
    background: 'white',
    vconcat: rows,
    resolve: { scale: { color: 'independent' } },
  } as TopLevelSpec;
}

const cellText = (s: Summary) => (Number.isFinite(s.mean) ? `${s.mean.toFixed(1)} ± ${s.std === null ? '—' : s.std.toFixed(1)}` : '—');

function cellTable(cells: readonly SpuriousCell[]): string {
  const withRouting = cells.some((c) => c.routing);
  return markdownTable(
    [
      's',
      'model',
      'N',
      'runs',
      'balanced (%)',
      'worst group (%)',
      'reversed (%)',
      'without the feature (%)',
      'train, last epoch (%)',
      ...(withRouting ? ['class patch routed (%)', 'spurious patch routed (%)'] : []),
    ],
    cells.map((c) => [
      String(c.strength),
      c.model,
      String(c.trainSize),
      String(c.runs),
      cellText(c.metrics.balanced),
      cellText(c.metrics.worstGroup),
      cellText(c.metrics.reversed),
      cellText(c.metrics.test),
      cellText(c.trainAccuracy),
      ...(withRouting ? [c.routing ? cellText(c.routing.truePatch) : '—', c.routing ? cellText(c.routing.spuriousPatch) : '—'] : []),
    ]),
    ['right', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
  );
}

function differenceTable(differences: readonly PairedDifference[], what: string): string {
  const rows = differences.filter((d) => d.metric !== 'test' || what === 'model');
  return markdownTable(
    [what, 's', 'metric', 'pairs', 'mean difference (points)', '95% interval'],
    rows.map((d) => [d.comparison, String(d.strength), METRIC_TITLES[d.metric], String(d.pairs), signed(d.meanDifference, 2), interval(d.interval)]),
    ['left', 'right', 'left', 'right', 'right', 'right'],
  );
}

const PART_TITLES: Record<Part, string> = {
  grids: 'CNN, separate and joint pMoE on MNIST and Fashion grids',
  synthetic: "The paper's synthetic data model",
  wrn: 'WRN and WRN-pMoE on quadrants',
};

export function spuriousMarkdown(report: SpuriousReport, svgFileName: string): string {
  const paper = PAPER_WRN.fig11;
  const out = [
    `# ${SPURIOUS_EXPERIMENT}: ${report.title}`,
    '',
    `Generated by \`pmoe report\` at ${report.generatedAt} from ${report.sources.map((s) => `\`${s}\``).join(', ')}.`,
    '',
    `How to regenerate: \`${report.regenerate}\``,
    '',
    `![${report.title}](${svgFileName})`,
    '',
    '## What was measured',
    '',
    "Every image carries one spurious item besides its class's ([docs/experiments-spurious.md](../docs/experiments-spurious.md)): in training its own class's with probability s, another class's otherwise. " +
      'Balanced: test images balanced over class x item; worst group: the lowest accuracy over those (class, item) groups; reversed: the same test images, each ' +
      "with another class's item; without the feature: the source's test set as it is without a spurious feature (at s = 0.5 the training set is also the one " +
      'without the feature). Values are mean ± sample std over seeds, in %. The routing columns (pMoE) give, on the balanced set, the most that any one expert ' +
      "takes of the class's patch and of the spurious patch (two-layer pMoE: share of images whose patch is among the expert's l; WRN-pMoE: share of the " +
      "expert's l routed positions inside the patch's quadrant, 25% by chance), averaged over classes and items.",
    '',
    `Figure 11 of the paper (CelebA, 95% of smiling faces black-haired, tested on a balanced set): WRN ${paper.accuracy.wrn.join(', ')}% against WRN-pMoE ` +
      `${paper.accuracy['wrn-pmoe'].join(', ')}% at N = ${paper.sizes.join(', ')}.`,
    '',
    '## Findings',
    '',
    ...report.findings.map((f) => `- ${f}`),
    '',
  ];
  for (const part of PART_ORDER) {
    const cells = report.cells.filter((c) => c.part === part);
    if (cells.length === 0) continue;
    out.push(`## ${PART_TITLES[part]}`, '');
    for (const dataset of DATASET_ORDER) {
      const here = cells.filter((c) => c.dataset === dataset);
      if (here.length === 0) continue;
      const of = (list: readonly PairedDifference[]) => list.filter((d) => d.part === part && d.dataset === dataset);
      out.push(`### ${datasetLabel(dataset)}`, '', cellTable(here), '');
      const baseline = of(report.againstBaseline);
      if (baseline.length > 0)
        out.push(
          `Paired on the same training sets (same N and seed), mean over N and seeds:`,
          '',
          differenceTable(baseline, part === 'wrn' ? 'WRN-pMoE − WRN' : 'pMoE − CNN'),
          '',
        );
      const drop = of(report.againstNoAssociation);
      if (drop.length > 0)
        out.push('Each model at s against itself at s = 0.5 (same N and seed), mean over N and seeds:', '', differenceTable(drop, 'model'), '');
    }
  }
  out.push(
    '## Runs',
    '',
    `${report.runs.ok} finished, ${report.runs.failed} failed; ${(report.runs.wallTimeMs / 3_600_000).toFixed(2)} hours of run wall time in all.`,
    '',
  );
  if (report.warnings.length > 0) out.push('## Warnings', '', ...report.warnings.map((w) => `- ${w}`), '');
  return `${out.join('\n').trimEnd()}\n`;
}

function toJson(value: unknown): string {
  return `${JSON.stringify(value, (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
}

/** Writes spurious.svg, .md, .json and .vl.json to `outDir`; the summary has the shape `pmoe report` lists. */
export async function writeSpuriousReport(lines: readonly ReportLine[], outDir: string, context: SpuriousContext) {
  const report = buildSpuriousReport(lines, context);
  const spec = spuriousChartSpec(report);
  const { svg, warnings } = await renderSvg(spec);
  const full = warnings.length === 0 ? report : { ...report, warnings: [...report.warnings, ...warnings.map((w) => `chart: ${w}`)] };
  await mkdir(outDir, { recursive: true });
  const base = join(outDir, SPURIOUS_EXPERIMENT);
  const files = { svg: `${base}.svg`, markdown: `${base}.md`, json: `${base}.json`, vegaLite: `${base}.vl.json` };
  await Promise.all([
    writeFileAtomically(files.svg, svg),
    writeFileAtomically(files.markdown, spuriousMarkdown(full, `${SPURIOUS_EXPERIMENT}.svg`)),
    writeFileAtomically(files.json, toJson(full)),
    writeFileAtomically(files.vegaLite, toJson(spec)),
  ]);
  return {
    experiment: SPURIOUS_EXPERIMENT,
    okRuns: full.runs.ok,
    failedRuns: full.runs.failed,
    points: full.cells.length,
    files,
    warnings: full.warnings,
    report: full,
  };
}
