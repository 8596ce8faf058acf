/**
 * Figure 6 (joint pMoE accuracy against the number of experts k): the paper's numbers and the
 * statement the report derives from ours.
 */
import type { Finding } from './finding.js';
import { markdownTable, signed } from './markdown-table.js';

/**
 * Figure 6 (read off, ±0.3): at N = 500 about 95.9% with k = 4 and about 96.4% for every k >= 8;
 * at N = 300 between 95.2% and 95.6% for every k. N = 400 and the CNN reference (N = 1000) are not
 * given as numbers. The fixed l is not stated; pmoe uses l = 6.
 */
export const PAPER_FIG6 = {
  experts: [4, 8, 12, 16, 20],
  accuracyAt500: { 4: 95.9, 8: 96.4, 12: 96.4, 16: 96.4, 20: 96.4 } as Readonly<Record<number, number>>,
  rangeAt300: [95.2, 95.6] as const,
  cnnSize: 1000,
} as const;

export interface ExpertsCurve {
  readonly samples: number;
  readonly curve: readonly { readonly x: number; readonly mean: number }[];
}

export interface ExpertsSummary {
  readonly samples: number;
  readonly atSmallestK: { readonly k: number; readonly accuracy: number } | null;
  /** Mean over the k > the smallest k measured. */
  readonly meanAtLargerK: number | null;
  readonly best: { readonly k: number; readonly accuracy: number } | null;
  /** max - min over k. */
  readonly spread: number | null;
  /** k values whose mean beats the CNN reference (when there is one). */
  readonly beatsCnnAt: readonly number[];
}

export function fig6Summaries(curves: readonly ExpertsCurve[], cnnReference: number | null): ExpertsSummary[] {
  return curves.map(({ samples, curve }) => {
    const finite = [...curve].filter((p) => Number.isFinite(p.mean)).sort((a, b) => a.x - b.x);
    if (finite.length === 0) return { samples, atSmallestK: null, meanAtLargerK: null, best: null, spread: null, beatsCnnAt: [] };
    const best = finite.reduce((a, b) => (b.mean > a.mean ? b : a));
    const larger = finite.slice(1);
    const means = finite.map((p) => p.mean);
    return {
      samples,
      atSmallestK: { k: finite[0].x, accuracy: finite[0].mean },
      meanAtLargerK: larger.length === 0 ? null : larger.reduce((s, p) => s + p.mean, 0) / larger.length,
      best: { k: best.x, accuracy: best.mean },
      spread: Math.max(...means) - Math.min(...means),
      beatsCnnAt: cnnReference === null ? [] : finite.filter((p) => p.mean > cnnReference).map((p) => p.x),
    };
  });
}

export function fig6Finding(summaries: readonly ExpertsSummary[], cnnReference: { samples: number; accuracy: number } | null): Finding {
  const cell = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(2));
  const paperSmall = PAPER_FIG6.accuracyAt500[4];
  const paperLarge = PAPER_FIG6.accuracyAt500[8];
  const markdown = [
    `The paper: at N = 500 about ${paperSmall}% with k = 4 and about ${paperLarge}% for every k >= 8 (a small gain from k = 4 to 8, then flat); ` +
      `at N = ${300} between ${PAPER_FIG6.rangeAt300[0]}% and ${PAPER_FIG6.rangeAt300[1]}% for every k.` +
      (cnnReference
        ? ` Ours: the CNN reaches ${cnnReference.accuracy.toFixed(2)}% at N = ${cnnReference.samples}.`
        : ' No CNN reference runs in these results.'),
    '',
    markdownTable(
      [
        'N',
        'smallest k: accuracy (%)',
        'mean over larger k (%)',
        'larger k − smallest k',
        'best k (%)',
        'spread over k',
        cnnReference ? `k beating the CNN at N = ${cnnReference.samples}` : 'k beating the CNN',
      ],
      summaries.map((s) => [
        String(s.samples),
        s.atSmallestK ? `k = ${s.atSmallestK.k}: ${cell(s.atSmallestK.accuracy)}` : '—',
        cell(s.meanAtLargerK),
        signed(s.meanAtLargerK !== null && s.atSmallestK ? s.meanAtLargerK - s.atSmallestK.accuracy : null, 2),
        s.best ? `k = ${s.best.k}: ${cell(s.best.accuracy)}` : '—',
        cell(s.spread),
        cnnReference ? (s.beatsCnnAt.length === 0 ? 'none' : s.beatsCnnAt.join(', ')) : '—',
      ]),
      ['right', 'right', 'right', 'right', 'right', 'right', 'left'],
    ),
  ].join('\n');
  return { title: 'Accuracy against k', markdown, data: { paper: PAPER_FIG6, cnnReference, summaries } };
}
