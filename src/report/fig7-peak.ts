import type { Finding } from './finding.js';
import { markdownTable, signed } from './markdown-table.js';
import { PAPER_FIG7 } from '../experiments/paper-numbers.js';

export interface PeakAtSize {
  readonly samples: number;
  /** The l with the highest mean accuracy (the smallest such l on a tie). */
  readonly bestPatchesPerExpert: number;
  readonly bestAccuracy: number;
  readonly paperAccuracy: number | null;
}

/** Figure 7's shape: the paper finds the best l at l* = 6 for every N. */
export function fig7Peaks(curves: readonly { samples: number; curve: readonly { x: number; mean: number }[] }[]): PeakAtSize[] {
  return curves
    .map(({ samples, curve }): PeakAtSize | undefined => {
      const finite = curve.filter((p) => Number.isFinite(p.mean));
      if (finite.length === 0) return undefined;
      const best = finite.reduce((a, b) => (b.mean > a.mean || (b.mean === a.mean && b.x < a.x) ? b : a));
      return { samples, bestPatchesPerExpert: best.x, bestAccuracy: best.mean, paperAccuracy: PAPER_FIG7.peakAccuracy[samples] ?? null };
    })
    .filter((peak): peak is PeakAtSize => peak !== undefined);
}

export function fig7Finding(peaks: readonly PeakAtSize[]): Finding {
  const markdown = [
    `The paper's accuracy peaks at l = ${PAPER_FIG7.peakPatchesPerExpert} (= l*) for every N.`,
    '',
    markdownTable(
      ['N', 'best l (ours)', 'accuracy there (%)', `paper at l = ${PAPER_FIG7.peakPatchesPerExpert} (%)`, 'ours − paper'],
      peaks.map((p) => [
        String(p.samples),
        String(p.bestPatchesPerExpert),
        p.bestAccuracy.toFixed(2),
        p.paperAccuracy === null ? '—' : p.paperAccuracy.toFixed(1),
        signed(p.paperAccuracy === null ? null : p.bestAccuracy - p.paperAccuracy, 2),
      ]),
      ['right', 'right', 'right', 'right', 'right'],
    ),
  ].join('\n');
  return { title: 'Best l per N', markdown, data: { paperPeakPatchesPerExpert: PAPER_FIG7.peakPatchesPerExpert, peaks } };
}
