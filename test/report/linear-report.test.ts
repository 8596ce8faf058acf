import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { ResultLine } from '../../src/experiments/results-file.js';
import { buildExperimentReport } from '../../src/report/experiment-report.js';
import { figureViewFor } from '../../src/report/figure-views.js';
import type { LoadedResultsFile } from '../../src/report/load-results.js';
import { experimentMarkdown } from '../../src/report/markdown.js';
import { mergeResultLines } from '../../src/report/merge-results.js';
import { countElementVisits } from '../support/element-visits.js';
import { imageOkLine, okLine } from '../support/report-fixtures.js';

const context = {
  sources: ['r.jsonl'],
  generatedAt: new Date(0),
  machine: { cpus: 'test', cores: 2, memoryGb: 4, node: 'v20', platform: 'test' } as never,
  regenerate: 'pmoe report r.jsonl',
};

/** Merging and aggregating `lines` into the experiment's report and its Markdown: the work done per line, in element visits. */
function visitsPerLine(experiment: string, lines: readonly ResultLine[]): number {
  const file: LoadedResultsFile = { path: 'r.jsonl', lines: lines as LoadedResultsFile['lines'], tornLines: 0 };
  const visits = countElementVisits(() => {
    const merged = mergeResultLines([file]);
    const report = buildExperimentReport(experiment, merged.byExperiment.get(experiment)!, figureViewFor(experiment), context);
    experimentMarkdown(report, `${experiment}.svg`);
  });
  return visits / lines.length;
}

/** Runs spread over a few points, each point with many seeds (as a long sweep has). */
const fig4 = (count: number) =>
  Array.from({ length: count }, (_, i) =>
    okLine('fig4', {
      model: (['cnn', 'separate', 'joint'] as const)[i % 3],
      trainSize: [100, 500][((i / 3) % 2) | 0],
      seed: (i / 6) | 0,
      accuracy: 0.5 + (i % 50) / 100,
    }),
  );
const wrn = (count: number) =>
  Array.from({ length: count }, (_, i) =>
    imageOkLine('fig16', {
      architecture: i % 2 === 0 ? 'wrn' : 'wrn-pmoe',
      trainSize: [400, 800][((i / 2) % 2) | 0],
      seed: (i / 4) | 0,
      accuracy: 0.6,
      source: 'cifar-vehicles',
    }),
  );

it('the report does the same work per run for 1,500 runs as for 6,000 (linear, not quadratic, in the number of runs)', () => {
  for (const [experiment, make] of [
    ['fig4', fig4],
    ['fig16', wrn],
  ] as const) {
    const small = visitsPerLine(experiment, make(1500));
    const large = visitsPerLine(experiment, make(6000));
    // Linear: the same per run (sorts add a log factor, a few per cent); quadratic: 4 times as much.
    assert.ok(large < 1.5 * small, `${experiment}: ${small.toFixed(0)} element visits per run at 1,500 runs, ${large.toFixed(0)} at 6,000`);
  }
});
