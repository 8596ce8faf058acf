import { mkdir } from 'node:fs/promises';
import type { BackendName } from '../engine/backend.js';
import { preflightRun } from '../experiments/preflight.js';
import { lockResults } from '../experiments/results-lock.js';
import { regimeResultsPath, regimeSettings, SCALING_REGIMES_EXPERIMENT } from '../experiments/scaling-regimes.js';
import { runScaling, scalingCells, scalingSpec, sweepRunner } from '../experiments/scaling.js';
import { buildScalingRegimesReport, writeScalingRegimesReport, type ScalingRegimesReport } from '../report/scaling-regimes-report.js';
import { startProgress, type Progress } from './progress.js';
import { parseOverrides } from '../util/overrides.js';
import { shellWord } from '../util/shell-word.js';
import { checkReportFolder, checkResultsOutput, checkWritableFolder } from './output-path.js';
import { reportFileNames } from '../report/report.js';

export interface ScalingRegimesCommandOptions {
  quick?: boolean;
  jobs?: number;
  /** Folder of the results files (one per regime); default results. */
  resultsDir: string;
  reportDir: string;
  reportOnly?: boolean;
  backend: BackendName;
  set: string[];
  json?: boolean;
}

/** `pmoe scaling-regimes`: each regime's bisections in turn (resumable, one file per regime), then the report. */
export async function scalingRegimesCommand(
  options: ScalingRegimesCommandOptions,
): Promise<{ report: ScalingRegimesReport; files: Awaited<ReturnType<typeof writeScalingRegimesReport>> }> {
  const quick = options.quick === true;
  const chosen = regimeSettings(parseOverrides(options.set), quick).map((c) => ({
    ...c,
    resultsPath: regimeResultsPath(options.resultsDir, c.regime.name, quick),
  }));
  const quiet = options.json === true && !process.stderr.isTTY;
  await checkReportFolder(options.reportDir, '--report-dir', reportFileNames(`${SCALING_REGIMES_EXPERIMENT}${quick ? '-quick' : ''}`));
  if (!options.reportOnly) {
    await checkWritableFolder(options.resultsDir, '--results-dir');
    for (const { resultsPath } of chosen) await checkResultsOutput(resultsPath, '--results-dir');
    // Every regime's largest runs are checked before the first one starts.
    for (const { settings } of chosen) for (const cell of scalingCells(settings).cells) preflightRun(scalingSpec(settings, cell, settings.high, 0));
    await mkdir(options.resultsDir, { recursive: true });
    for (const { regime, settings, resultsPath } of chosen) {
      const release = await lockResults(resultsPath);
      let progress: Progress | undefined;
      try {
        await runScaling(settings, {
          runSpecs: sweepRunner({
            resultsPath,
            resultsLocked: true,
            jobs: options.jobs,
            backend: options.backend,
            onProgress: (_round, p) => progress?.update(p.done, p.label),
          }),
          onRound: ({ round, runs }) => {
            progress?.stop();
            progress = startProgress(runs, `${regime.name} round ${round}`, quiet);
          },
        });
      } finally {
        progress?.stop();
        await release();
      }
    }
  }
  const regenerate = [
    'pmoe scaling-regimes --report-only',
    ...(quick ? ['--quick'] : []),
    '--results-dir',
    shellWord(options.resultsDir),
    '--report-dir',
    shellWord(options.reportDir),
    ...options.set.map((pair) => `--set ${shellWord(pair)}`),
  ].join(' ');
  const report = buildScalingRegimesReport(chosen, { generatedAt: new Date(), regenerate });
  const files = await writeScalingRegimesReport(report, options.reportDir, quick);
  return { report, files };
}

export const SCALING_REGIMES_COMMAND = SCALING_REGIMES_EXPERIMENT;
