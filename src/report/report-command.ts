import { writeReport, type ReportOptions, type ReportSummary } from './report.js';

export interface ReportCommandOptions extends ReportOptions {
  /** Output folder; default `report`. */
  readonly out?: string;
}

/** `pmoe report <files...> --out <dir>`: writes the reports and returns the summary with lines to print. */
export async function reportCommand(paths: readonly string[], options: ReportCommandOptions = {}): Promise<{ summary: ReportSummary; text: string }> {
  const { out = 'report', ...rest } = options;
  const summary = await writeReport(paths, out, rest);
  const lines = summary.experiments.map(
    (e) =>
      `${e.experiment}: ${e.okRuns} runs${e.failedRuns > 0 ? `, ${e.failedRuns} failed` : ''}, ${e.points} points -> ${e.files.markdown}, ${e.files.svg}, ${e.files.json}`,
  );
  if (summary.duplicatesDropped > 0) lines.push(`${summary.duplicatesDropped} duplicate lines (a run in several files, or retried) counted once`);
  for (const warning of [...summary.warnings, ...summary.experiments.flatMap((e) => e.warnings.map((w) => `${e.experiment}: ${w}`))])
    lines.push(`warning: ${warning}`);
  return { summary, text: lines.join('\n') };
}
