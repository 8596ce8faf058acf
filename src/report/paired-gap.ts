import { studentTQuantile } from '../analysis/student-t.js';
import type { ImageOkLine } from './load-results.js';
import type { PairedGap } from './report-types.js';
import { mean, sampleStd } from './statistics.js';

/**
 * Epochs the steadier comparison averages test accuracy over. One epoch's inference-mode accuracy
 * can drop to chance and recover the next epoch (plain SGD at lr 0.1 with batch norm; a small last
 * batch moves the weights and the moving statistics just before the evaluation), so a final-epoch
 * difference can be one model's bad epoch.
 */
export const STEADY_EPOCHS = 5;

/** The mean of the differences and its 95% t interval (null with fewer than two). */
export function meanWithInterval(differences: readonly number[]): { meanDifference: number; interval: [number, number] | null } {
  const meanDifference = mean(differences);
  const sd = sampleStd(differences);
  if (sd === null) return { meanDifference, interval: null };
  const half = studentTQuantile(0.975, differences.length - 1) * (sd / Math.sqrt(differences.length));
  return { meanDifference, interval: [meanDifference - half, meanDifference + half] };
}

/** Mean test accuracy over a run's last STEADY_EPOCHS evaluated epochs. */
function steadyTestAccuracy(line: ImageOkLine): number {
  return mean(
    line.record.epochs
      .map((e) => e.testAccuracy ?? NaN)
      .filter(Number.isFinite)
      .slice(-STEADY_EPOCHS),
  );
}

/**
 * WRN-pMoE against WRN at each N, paired by seed (a seed fixes the training set and the order of
 * its batches for both models): the mean of the per-seed differences in final test accuracy with
 * its 95% t interval, the same for the mean test accuracy over the last STEADY_EPOCHS epochs, and
 * each model's training accuracy at its last epoch, which says whether training had converged.
 */
export function pairedGaps(lines: readonly ImageOkLine[]): PairedGap[] {
  const runs = new Map<string, ImageOkLine>(); // "N|seed|architecture"
  for (const line of lines) runs.set(`${line.record.data.trainSize}|${line.record.training.seed}|${line.record.model.architecture}`, line);
  const sizes = [...new Set(lines.map((l) => l.record.data.trainSize))].sort((a, b) => a - b);
  const lastTrainAccuracy = (line: ImageOkLine) => 100 * (line.record.epochs.at(-1)?.trainAccuracy ?? NaN);
  return sizes.flatMap((x) => {
    const atN = lines.filter((l) => l.record.data.trainSize === x);
    const seeds = [...new Set(atN.map((l) => l.record.training.seed))].sort((a, b) => a - b);
    const pairs = seeds.flatMap((seed) => {
      const [wrn, pmoe] = ['wrn', 'wrn-pmoe'].map((architecture) => runs.get(`${x}|${seed}|${architecture}`));
      return wrn && pmoe ? [{ wrn, pmoe }] : [];
    });
    const differences = pairs
      .map(({ wrn, pmoe }) => 100 * ((pmoe.record.finalTestAccuracy ?? NaN) - (wrn.record.finalTestAccuracy ?? NaN)))
      .filter(Number.isFinite);
    if (differences.length === 0) return [];
    const steady = pairs.map(({ wrn, pmoe }) => 100 * (steadyTestAccuracy(pmoe) - steadyTestAccuracy(wrn))).filter(Number.isFinite);
    return [
      {
        x,
        pairs: differences.length,
        ...meanWithInterval(differences),
        ...(steady.length > 0 ? { steady: { epochs: STEADY_EPOCHS, ...meanWithInterval(steady) } } : {}),
        finalTrainAccuracy: {
          WRN: mean(pairs.map((p) => lastTrainAccuracy(p.wrn))),
          'WRN-pMoE': mean(pairs.map((p) => lastTrainAccuracy(p.pmoe))),
        },
      },
    ];
  });
}
