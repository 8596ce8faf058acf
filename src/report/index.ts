/** `pmoe report`: figures and Markdown comparing sweep results with the paper's numbers. */
export {
  writeReport,
  regenerateCommand,
  fileStem,
  type ReportOptions,
  type ReportSummary,
  type ExperimentSummary,
  type ExperimentReportFiles,
} from './report.js';
export { reportCommand, type ReportCommandOptions } from './report-command.js';
export { chartSpec, chartRows, seriesDomain, SERIES_COLOURS } from './chart-spec.js';
export { renderSvg } from './render-svg.js';
export { figureViewFor, type FigureOptions } from './figure-views.js';
export { type FigureView, type ReferencePoint } from './report-types.js';
export { buildExperimentReport, type ExperimentReport, type Comparison } from './experiment-report.js';
export { loadResultsFile, ReportInputError, type ReportLine } from './load-results.js';
export { mergeResultsFiles, mergeResultLines, type MergedResults } from './merge-results.js';
export { aggregate, mean, sampleStd, type AggregatedPoint, type Observation } from './statistics.js';
export { firstCrossing, type Crossing } from './crossing.js';
export { fig4Claims, type Fig4Claims } from './fig4-claims.js';
export * from '../experiments/paper-numbers.js';
