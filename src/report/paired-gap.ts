import { studentTQuantile } from '../analysis/student-t.js';
import type { ImageOkLine } from './load-results.js';
import type { PairedGap } from './report-types.js';

const mean = (values: readonly number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;

/**
 * WRN-pMoE against WRN at each N, paired by seed (a seed fixes the training set and the order of
 * its batches for both models): the mean of the per-seed differences in final test accuracy with
 * its 95% t interval, and each model's training accuracy at its last epoch, which says whether
 * training had converged.
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
    const meanDifference = mean(differences);
    let interval: [number, number] | null = null;
    if (differences.length >= 2) {
      const sd = Math.sqrt(differences.reduce((sum, d) => sum + (d - meanDifference) ** 2, 0) / (differences.length - 1));
      const half = studentTQuantile(0.975, differences.length - 1) * (sd / Math.sqrt(differences.length));
      interval = [meanDifference - half, meanDifference + half];
    }
    return [
      {
        x,
        pairs: differences.length,
        meanDifference,
        interval,
        finalTrainAccuracy: {
          WRN: mean(pairs.map((p) => lastTrainAccuracy(p.wrn))),
          'WRN-pMoE': mean(pairs.map((p) => lastTrainAccuracy(p.pmoe))),
        },
      },
    ];
  });
}
