import { existsSync, mkdirSync } from 'node:fs';
import { appendToFile } from '../util/output-file.js';
import { join } from 'node:path';
import type { TrainingHooks } from './train.js';
import type { RoutingUtilisation } from '../analysis/utilisation.js';

/** One evaluated epoch as the log holds it: a JSON line, and a row of the CSV beside it. */
export interface EpochLogLine {
  readonly run: string;
  readonly phase: 'routers' | 'experts' | 'model';
  readonly epoch: number;
  /** Epochs in this phase. */
  readonly epochs: number;
  readonly trainLoss?: number;
  readonly trainAccuracy?: number;
  readonly testLoss?: number;
  readonly testAccuracy?: number;
  /** Discriminative-routing rate, where the trainer measured it this epoch. */
  readonly routingRate?: number;
  /** pMoE: how the router used its experts (test set) and the epoch's training steps' drops and auxiliary losses. */
  readonly utilisation?: RoutingUtilisation;
  /** Milliseconds since the run started. */
  readonly wallTimeMs: number;
  /** ISO 8601 time the line was written. */
  readonly time: string;
}

export const EPOCH_LOG_COLUMNS = [
  'run',
  'phase',
  'epoch',
  'epochs',
  'trainLoss',
  'trainAccuracy',
  'testLoss',
  'testAccuracy',
  'routingRate',
  'wallTimeMs',
  'time',
  'patchesPerExpert',
  'untakenPatches',
  'emptyPairs',
  'idleExperts',
  'droppedPerPatch',
  'importanceLoss',
  'loadLoss',
  'zLoss',
] as const;

/** The CSV cells of a line: its fields, and its utilisation's flattened (patches per expert joined by ';'). */
function csvFields(line: EpochLogLine): Partial<Record<(typeof EPOCH_LOG_COLUMNS)[number], unknown>> {
  const u = line.utilisation;
  return {
    ...line,
    patchesPerExpert: u?.patchesPerExpert.map((v) => Number(v.toFixed(4))).join(';'),
    untakenPatches: u?.untakenPatches,
    emptyPairs: u?.emptyPairs,
    idleExperts: u?.idleExperts,
    droppedPerPatch: u?.droppedPerPatch,
    importanceLoss: u?.auxiliaryLosses?.importance,
    loadLoss: u?.auxiliaryLosses?.load,
    zLoss: u?.auxiliaryLosses?.zLoss,
  };
}

/** The files a run's log goes to: `<dir>/<run>.jsonl` and `<dir>/<run>.csv`. */
export function epochLogPaths(dir: string, run: string): { jsonl: string; csv: string } {
  if (!/^[\w.-]+$/.test(run)) throw new Error(`epoch log: run name must be letters, digits, '_', '.' or '-' (it names files); got '${run}'`);
  return { jsonl: join(dir, `${run}.jsonl`), csv: join(dir, `${run}.csv`) };
}

const csvCell = (value: unknown) =>
  value === undefined ? '' : typeof value === 'string' && /[",\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : String(value);

/**
 * Training hooks that append one line per evaluated epoch to `<dir>/<run>.jsonl` and a row to
 * `<dir>/<run>.csv` as training goes, so a run that dies late still leaves its curve. Writes are
 * synchronous appends (training itself is synchronous between epochs); each line is whole when
 * written. `next` hooks, when given, are called too.
 */
export function epochLogHooks(dir: string, run: string, next: TrainingHooks = {}): TrainingHooks {
  const paths = epochLogPaths(dir, run);
  mkdirSync(dir, { recursive: true });
  const started = performance.now();
  // A rerun of the same run (a resumed sweep) appends below the earlier attempt's lines.
  let headerWritten = existsSync(paths.csv);
  return {
    onEpoch(phase, epoch, total, metrics, utilisation) {
      next.onEpoch?.(phase, epoch, total, metrics, utilisation);
      if (!metrics) return;
      const measured = metrics as typeof metrics & { routingRate?: number };
      const line: EpochLogLine = {
        run,
        phase,
        epoch,
        epochs: total,
        trainLoss: metrics.trainLoss,
        trainAccuracy: metrics.trainAccuracy,
        testLoss: metrics.testLoss,
        testAccuracy: metrics.testAccuracy,
        ...(typeof measured.routingRate === 'number' ? { routingRate: measured.routingRate } : {}),
        ...(utilisation ? { utilisation } : {}),
        wallTimeMs: Math.round(performance.now() - started),
        time: new Date().toISOString(),
      };
      // appendToFile: a regular file or a new one only (a named pipe there would stop training until read).
      appendToFile(paths.jsonl, `${JSON.stringify(line)}\n`);
      const header = headerWritten ? '' : `${EPOCH_LOG_COLUMNS.join(',')}\n`;
      const cells = csvFields(line);
      appendToFile(paths.csv, `${header}${EPOCH_LOG_COLUMNS.map((column) => csvCell(cells[column])).join(',')}\n`);
      headerWritten = true;
    },
  };
}
