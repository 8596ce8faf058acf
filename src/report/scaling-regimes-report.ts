/**
 * The report of `pmoe scaling-regimes` (../experiments/scaling-regimes.ts): per regime of the data
 * model, the fitted exponent of N_CNN / N_pMoE against n/l with its interval (each regime's file is
 * read by the scaling report's own rules, ./scaling-report.ts), whether the advantage grows with
 * n/l there, and a log-log figure of the ratios of every regime.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { powerLawAt } from '../analysis/power-law.js';
import { SCALING_REGIMES_EXPERIMENT, type ScalingRegime } from '../experiments/scaling-regimes.js';
import type { ScalingOptions } from '../experiments/scaling.js';
import { writeFileAtomically } from '../util/atomic-write.js';
import { SERIES_COLOURS } from './chart-spec.js';
import { markdownTable } from './markdown-table.js';
import { renderSvg } from './render-svg.js';
import { buildScalingReport, readScalingLines, scalingTable, type ScalingCellReport, type ScalingFit } from './scaling-report.js';

/** How N_CNN / N_pMoE moves with n/l in a regime: by the sign of the slope's interval. */
export type RegimeVerdict = 'grows' | 'falls' | 'no significant dependence' | 'no fit';

export interface RegimeRatio {
  readonly series: string;
  readonly verdict: RegimeVerdict;
  readonly fit: ScalingFit;
}

export interface RegimeReport {
  readonly regime: string;
  readonly change: string;
  readonly resultsPath: string;
  readonly cells: readonly ScalingCellReport[];
  readonly ratios: readonly RegimeRatio[];
  readonly runs: { readonly ok: number; readonly failed: number; readonly wallTimeMs: number };
  readonly warnings: readonly string[];
}

export interface ScalingRegimesReport {
  readonly experiment: string;
  readonly title: string;
  readonly generatedAt: string;
  readonly regenerate: string;
  readonly regimes: readonly RegimeReport[];
  /** Regimes without a results file yet. */
  readonly missing: readonly string[];
  readonly findings: readonly string[];
}

export function ratioVerdict(fit: ScalingFit): RegimeVerdict {
  if (!fit.fit) return 'no fit';
  const [low, high] = fit.fit.slopeInterval;
  return low > 0 ? 'grows' : high < 0 ? 'falls' : 'no significant dependence';
}

const fmt = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : '—');

export function buildScalingRegimesReport(
  chosen: readonly { regime: ScalingRegime; settings: ScalingOptions; resultsPath: string }[],
  context: { generatedAt: Date; regenerate: string },
): ScalingRegimesReport {
  const regimes: RegimeReport[] = [];
  const missing: string[] = [];
  for (const { regime, settings, resultsPath } of chosen) {
    if (!existsSync(resultsPath)) {
      missing.push(regime.name);
      continue;
    }
    const { lines } = readScalingLines([resultsPath]);
    const report = buildScalingReport(
      lines,
      {
        targetAccuracy: settings.targetAccuracy,
        requiredShare: settings.requiredShare,
        search: { low: settings.low, high: settings.high, tolerance: settings.tolerance },
      },
      { sources: [resultsPath], generatedAt: context.generatedAt, regenerate: context.regenerate },
    );
    regimes.push({
      regime: regime.name,
      change: regime.change,
      resultsPath,
      cells: report.cells,
      ratios: report.ratioFits.map((fit) => ({ series: fit.series, verdict: ratioVerdict(fit), fit })),
      runs: report.runs,
      warnings: report.warnings,
    });
  }
  const findings = regimes.flatMap((r) =>
    r.ratios.map(({ series, verdict, fit }) =>
      fit.fit
        ? `${r.regime}: ${series} ${verdict === 'grows' ? 'grows' : verdict === 'falls' ? 'falls' : 'shows no significant dependence'} with n/l: exponent ${fmt(fit.fit.slope)} (95% interval [${fmt(fit.fit.slopeInterval[0])}, ${fmt(fit.fit.slopeInterval[1])}], ${fit.fit.points} cells${fit.censored.length > 0 ? `, ${fit.censored.length} censored` : ''}).`
        : `${r.regime}: ${series}: no fit (${fit.noFit}).`,
    ),
  );
  return {
    experiment: SCALING_REGIMES_EXPERIMENT,
    title: 'N_CNN / N_pMoE against n/l across regimes of the data model',
    generatedAt: context.generatedAt.toISOString(),
    regenerate: context.regenerate,
    regimes,
    missing,
    findings,
  };
}

/** Log-log: the ratio of N needed against n/l, one colour per regime, fitted lines. */
export function scalingRegimesChartSpec(report: Pick<ScalingRegimesReport, 'regimes' | 'title'>): TopLevelSpec {
  const names = report.regimes.map((r) => r.regime);
  const points = report.regimes.flatMap((r) =>
    r.ratios.flatMap((ratio) => ratio.fit.used.map((u) => ({ regime: r.regime, series: ratio.series, x: u.x, ratio: u.y, cell: u.label }))),
  );
  const lines = report.regimes.flatMap((r) =>
    r.ratios.flatMap((ratio) => {
      const fit = ratio.fit.fit;
      if (!fit) return [];
      const xs = ratio.fit.used.map((u) => u.x);
      return [Math.min(...xs), Math.max(...xs)].map((x) => ({ regime: r.regime, series: ratio.series, x, ratio: powerLawAt(fit, x) }));
    }),
  );
  const color = {
    field: 'regime',
    type: 'nominal' as const,
    title: 'regime',
    scale: { domain: names, range: names.map((_, i) => SERIES_COLOURS[i % SERIES_COLOURS.length]) },
  };
  const x = { field: 'x', type: 'quantitative' as const, title: 'n / l', scale: { type: 'log' as const } };
  const y = { field: 'ratio', type: 'quantitative' as const, title: 'N_CNN / N_pMoE (N needed for 95%)', scale: { type: 'log' as const } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: report.title,
    width: 480,
    height: 320,
    background: 'white',
    layer: [
      { data: { values: lines }, mark: { type: 'line', strokeDash: [6, 4] }, encoding: { x, y, color, detail: { field: 'series' } } },
      {
        data: { values: points },
        mark: { type: 'point', filled: true, size: 50 },
        encoding: {
          x,
          y,
          color,
          shape: { field: 'series', type: 'nominal', title: 'ratio' },
          tooltip: [{ field: 'regime' }, { field: 'cell' }, { field: 'ratio', format: '.2f' }],
        },
      },
    ],
  } as TopLevelSpec;
}

export function scalingRegimesMarkdown(report: ScalingRegimesReport, svgFileName: string): string {
  const out = [
    `# ${SCALING_REGIMES_EXPERIMENT}: ${report.title}`,
    '',
    `Generated at ${report.generatedAt}. How to regenerate: \`${report.regenerate}\``,
    '',
    `![${report.title}](${svgFileName})`,
    '',
    'Each regime changes one setting of the scaling experiment\'s data model or budget and reruns its bisections (smallest N at which the final test accuracy reaches the target in the required share of seeds) for the CNN and pMoE; the ratio N_CNN / N_pMoE at the same n is fitted against n/l as a power law (log-log least squares, 95% t interval for the exponent). "Grows" means the whole interval is above 0.',
    '',
    '## Exponents by regime',
    '',
    markdownTable(
      ['regime', 'what changes', 'ratio', 'exponent', '95% interval', 'cells fitted', 'censored', 'verdict', 'runs'],
      report.regimes.flatMap((r) =>
        r.ratios.map((ratio) => [
          r.regime,
          r.change,
          ratio.series,
          ratio.fit.fit ? fmt(ratio.fit.fit.slope) : '—',
          ratio.fit.fit ? `[${fmt(ratio.fit.fit.slopeInterval[0])}, ${fmt(ratio.fit.fit.slopeInterval[1])}]` : '—',
          String(ratio.fit.used.length),
          String(ratio.fit.censored.length),
          ratio.verdict,
          `${r.runs.ok} ok, ${r.runs.failed} failed`,
        ]),
      ),
      ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'left', 'right'],
    ),
    '',
    '## Findings',
    '',
    ...report.findings.map((f) => `- ${f}`),
    ...(report.missing.length > 0 ? ['', `Not run yet (no results file): ${report.missing.join(', ')}.`] : []),
    '',
  ];
  for (const r of report.regimes) {
    out.push(`## ${r.regime}: ${r.change}`, '', `From \`${r.resultsPath}\`.`, '', r.cells.length === 0 ? 'No runs.' : scalingTable(r.cells), '');
    if (r.warnings.length > 0) out.push(...r.warnings.map((w) => `- warning: ${w}`), '');
  }
  return out.join('\n');
}

function toJson(value: unknown): string {
  return `${JSON.stringify(value, (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
}

/** Writes scaling-regimes.md, .svg, .json and .vl.json to `outDir`. */
export async function writeScalingRegimesReport(report: ScalingRegimesReport, outDir: string, quick: boolean) {
  const spec = scalingRegimesChartSpec(report);
  const { svg } = await renderSvg(spec);
  await mkdir(outDir, { recursive: true });
  const stem = `${SCALING_REGIMES_EXPERIMENT}${quick ? '-quick' : ''}`;
  const base = join(outDir, stem);
  const files = { svg: `${base}.svg`, markdown: `${base}.md`, json: `${base}.json`, vegaLite: `${base}.vl.json` };
  await Promise.all([
    writeFileAtomically(files.svg, svg),
    writeFileAtomically(files.markdown, scalingRegimesMarkdown(report, `${stem}.svg`)),
    writeFileAtomically(files.json, toJson(report)),
    writeFileAtomically(files.vegaLite, toJson(spec)),
  ]);
  return files;
}
