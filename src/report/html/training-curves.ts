/**
 * The page's training curves: every run's per-epoch log (`pmoe train|reproduce --log-dir`), test
 * accuracy and training loss against the epoch, one line per run.
 */
import { readdir } from 'node:fs/promises';
import { fileLines, openLines } from '../../util/file-lines.js';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import type { EpochLogLine } from '../../training/epoch-log.js';
import { escapeHtml } from './markdown-html.js';

export interface TrainingCurvesSection {
  readonly html: string;
  readonly specs: readonly { readonly id: string; readonly spec: TopLevelSpec }[];
}

/** Every line of every `<run>.jsonl` in `dir`; a file that is not such a log is an error naming it and the line. */
export async function readEpochLogs(dir: string): Promise<EpochLogLine[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => name.endsWith('.jsonl')).sort();
  } catch (error) {
    throw new Error(`cannot read the log folder ${dir}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : String(error)}`, {
      cause: error,
    });
  }
  const lines: EpochLogLine[] = [];
  for (const name of names) {
    const path = join(dir, name);
    // A regular file only: a named pipe would wait for a writer, a link to /dev/zero never end (openLines refuses both).
    const fd = openLines(path);
    if (fd === undefined) continue;
    for (const { text, number, ended } of fileLines(fd)) {
      if (text.trim() === '') continue;
      let value: Partial<EpochLogLine>;
      try {
        value = JSON.parse(text) as Partial<EpochLogLine>;
      } catch {
        // A run killed mid-write leaves a torn last line: skip it, as results files do.
        if (!ended) continue;
        throw new Error(`${path} line ${number} is not an epoch log line (not JSON)`);
      }
      if (typeof value.run !== 'string' || typeof value.epoch !== 'number') {
        throw new Error(`${path} line ${number} is not an epoch log line (needs run and epoch)`);
      }
      lines.push(value as EpochLogLine);
    }
  }
  return lines;
}

/** The section, or undefined when the folder holds no log lines. */
export async function trainingCurvesSection(dir: string): Promise<TrainingCurvesSection | undefined> {
  const lines = await readEpochLogs(dir);
  if (lines.length === 0) return undefined;
  const values = lines.map((line) => ({
    run: line.run,
    phase: line.phase,
    epoch: line.epoch,
    testAccuracy: line.testAccuracy ?? null,
    trainLoss: line.trainLoss ?? null,
  }));
  const runs = new Set(lines.map((line) => line.run)).size;
  const chart = (field: 'testAccuracy' | 'trainLoss', title: string) => ({
    width: 420,
    height: 260,
    mark: { type: 'line' as const, point: runs <= 12 },
    encoding: {
      x: { field: 'epoch', type: 'quantitative' as const, title: 'epoch' },
      y: { field, type: 'quantitative' as const, title, ...(field === 'testAccuracy' ? { axis: { format: '.0%' } } : {}) },
      color: { field: 'run', type: 'nominal' as const, legend: runs <= 20 ? {} : null },
      detail: { field: 'phase', type: 'nominal' as const },
      tooltip: [{ field: 'run' }, { field: 'phase' }, { field: 'epoch' }, { field }],
    },
  });
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values },
    hconcat: [chart('testAccuracy', 'test accuracy'), chart('trainLoss', 'training loss')],
  } as TopLevelSpec;
  const html =
    `<section id="training-curves" class="training-curves"><h2>Training curves</h2>` +
    `<p>${lines.length} evaluated epochs of ${runs} run${runs === 1 ? '' : 's'} from <code>${escapeHtml(dir)}</code>.</p>` +
    `<figure><div class="vega-figure" id="figure-curves" data-vega-spec="spec-curves" role="img" aria-label="training curves"></div></figure></section>`;
  return { html, specs: [{ id: 'spec-curves', spec }] };
}
