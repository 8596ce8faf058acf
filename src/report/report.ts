import { mkdir } from 'node:fs/promises';
import { writeFileAtomically } from '../util/atomic-write.js';
import { turnEventLoop } from '../util/event-loop.js';
import { OutputFileError } from '../util/output-file.js';
import { reportFileProblem } from './report-files.js';
import { shellWord } from '../util/shell-word.js';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { chartSpec } from './chart-spec.js';
import { buildExperimentReport, type ExperimentReport, type ReportContext } from './experiment-report.js';
import { figureViewFor, type FigureOptions } from './figure-views.js';
import type { ReportLine } from './load-results.js';
import { machineAtReportTime, type MachineInfo } from './machine.js';
import { experimentMarkdown } from './markdown.js';
import { mergeResultsFiles } from './merge-results.js';
import { renderSvg } from './render-svg.js';
import { SCALING_EXPERIMENT } from '../experiments/scaling.js';
import { writeScalingReport } from './scaling-report.js';
import { PAIR_ATLAS_EXPERIMENT } from '../experiments/pair-atlas.js';
import { writePairAtlasReport } from './pair-atlas-report.js';
import { ROUTERS_EXPERIMENT } from '../experiments/routers.js';
import { writeRoutersReport } from './routers-report.js';
import { SPURIOUS_EXPERIMENT } from '../experiments/spurious.js';
import { writeSpuriousReport } from './spurious-report.js';

export interface ReportOptions extends FigureOptions {
  /** The time stamped on the reports; default now. */
  readonly now?: Date;
  /** Default: read from this machine at report time. */
  readonly machine?: MachineInfo;
}

export interface ExperimentReportFiles {
  readonly svg: string;
  readonly markdown: string;
  readonly json: string;
  /** The Vega-Lite spec with its data inline, for an HTML page (vega-embed). */
  readonly vegaLite: string;
}

export interface ExperimentSummary {
  readonly experiment: string;
  readonly okRuns: number;
  readonly failedRuns: number;
  readonly points: number;
  readonly files: ExperimentReportFiles;
  readonly warnings: readonly string[];
}

export interface ReportSummary {
  readonly outDir: string;
  readonly inputs: readonly { path: string; lines: number; tornLines: number }[];
  readonly duplicatesDropped: number;
  readonly experiments: readonly ExperimentSummary[];
  /** About the inputs as a whole (torn lines, empty files). */
  readonly warnings: readonly string[];
}

/** The command line that remakes this report, with the options that change it. */
export function regenerateCommand(resultsPaths: readonly string[], outDir: string, options: FigureOptions = {}): string {
  const extra = [
    options.successAccuracy === undefined ? '' : `--success-accuracy ${options.successAccuracy}`,
    options.routerPatchesPerExpert === undefined ? '' : `--router-l ${options.routerPatchesPerExpert.join(',')}`,
  ];
  return ['pmoe report', ...resultsPaths.map(shellWord), '--out', shellWord(outDir), ...extra].filter(Boolean).join(' ');
}

/** The files a report of `stem` (an experiment's file stem) writes into its folder: figure, Markdown, JSON, Vega-Lite spec. */
export const reportFileNames = (stem: string) => ['.svg', '.md', '.json', '.vl.json'].map((extension) => `${stem}${extension}`);

/** An experiment name as a file name: the name comes from the results file, so it must not reach outside outDir. */
export function fileStem(experiment: string): string {
  const stem = experiment.replace(/[^\w.-]/g, '_').replace(/^\.+/, '_');
  return stem === '' ? '_' : stem;
}

/** JSON cannot hold NaN or Infinity; null says "no number" explicitly instead of failing or lying. */
function toJson(value: unknown): string {
  return `${JSON.stringify(value, (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
}

/** Everything one experiment's files hold, before writing. */
export interface RenderedExperiment {
  readonly report: ExperimentReport;
  readonly spec: TopLevelSpec;
  readonly svg: string;
  readonly markdown: string;
}

/**
 * Reads results files (shards of one or more sweeps), and for each experiment in them writes to
 * `outDir`: `<experiment>.svg` (the paper's figure with the paper's values dashed),
 * `<experiment>.md` (our numbers beside the paper's, derived statements, runs, machine),
 * `<experiment>.json` (the aggregated numbers) and `<experiment>.vl.json` (the Vega-Lite spec).
 */
export async function writeReport(resultsPaths: readonly string[], outDir: string, options: ReportOptions = {}): Promise<ReportSummary> {
  const merged = await mergeResultsFiles(resultsPaths);
  const context = {
    sources: resultsPaths,
    generatedAt: options.now ?? new Date(),
    machine: options.machine ?? machineAtReportTime(),
    regenerate: regenerateCommand(resultsPaths, outDir, options),
  };
  // Every file about to be written is checked first (a new one, or one a report wrote), so that none is written when one cannot be.
  for (const experiment of merged.byExperiment.keys()) {
    for (const name of reportFileNames(fileStem(experiment))) {
      const path = join(outDir, name);
      const problem = reportFileProblem(path);
      if (problem) throw new OutputFileError(path, problem);
    }
  }
  await mkdir(outDir, { recursive: true });
  const experiments: ExperimentSummary[] = [];
  for (const [experiment, lines] of merged.byExperiment) {
    // Each experiment's report is one stretch of work: between them a signal handler (Ctrl-C) runs.
    await turnEventLoop();
    if (experiment === SCALING_EXPERIMENT) {
      // Bisections over N, not curves: a report of its own (scaling-report.ts); --success-accuracy is its target.
      const { report: _scaling, ...summary } = await writeScalingReport(resultsPaths, outDir, { targetAccuracy: options.successAccuracy }, context);
      experiments.push(summary);
      continue;
    }
    if (experiment === PAIR_ATLAS_EXPERIMENT) {
      // Heat maps over pairs of classes, with predictors computed from the data: a report of its own.
      const { report: _atlas, ...summary } = await writePairAtlasReport(resultsPaths, outDir, context);
      experiments.push(summary);
      continue;
    }
    if (experiment === ROUTERS_EXPERIMENT) {
      // Several data sets and measures per router: a report of its own.
      const { report: _routers, ...summary } = await writeRoutersReport(resultsPaths, outDir, context);
      experiments.push(summary);
      continue;
    }
    if (experiment === SPURIOUS_EXPERIMENT) {
      // Several parts (two-layer and image runs, three data families) in one report of its own.
      const { report: _spurious, ...summary } = await writeSpuriousReport(lines, outDir, context);
      experiments.push(summary);
      continue;
    }
    const rendered = await renderExperiment(experiment, lines, options, context);
    const base = join(outDir, fileStem(experiment));
    const files = { svg: `${base}.svg`, markdown: `${base}.md`, json: `${base}.json`, vegaLite: `${base}.vl.json` };
    await Promise.all([
      writeFileAtomically(files.svg, rendered.svg),
      writeFileAtomically(files.markdown, rendered.markdown),
      writeFileAtomically(files.json, toJson(rendered.report)),
      writeFileAtomically(files.vegaLite, toJson(rendered.spec)),
    ]);
    experiments.push({
      experiment,
      okRuns: rendered.report.runs.ok,
      failedRuns: rendered.report.runs.failed,
      points: rendered.report.points.length,
      files,
      warnings: rendered.report.warnings,
    });
  }
  return { outDir, inputs: merged.inputs, duplicatesDropped: merged.duplicatesDropped, experiments, warnings: merged.warnings };
}

async function renderExperiment(experiment: string, lines: readonly ReportLine[], options: FigureOptions, context: ReportContext): Promise<RenderedExperiment> {
  const view = figureViewFor(experiment, options, lines);
  const built = buildExperimentReport(experiment, lines, view, context);
  await turnEventLoop();
  const spec = chartSpec(view, built.points);
  const { svg, warnings } = await renderSvg(spec);
  const report = warnings.length === 0 ? built : { ...built, warnings: [...built.warnings, ...warnings.map((w) => `chart: ${w}`)] };
  await turnEventLoop();
  return { report, spec, svg, markdown: experimentMarkdown(report, `${fileStem(experiment)}.svg`) };
}
