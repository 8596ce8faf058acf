import { describeCrossing, firstCrossing, type Crossing } from './crossing.js';
import type { Finding } from './finding.js';
import { markdownTable } from './markdown-table.js';
import { paperFig5Boundary } from '../experiments/paper-numbers.js';

/** Success rate (0..1) at each measured N of one l. */
export type SuccessCurve = readonly { readonly x: number; readonly mean: number }[];

export interface TransitionAtL {
  readonly patchesPerExpert: number;
  /** Where the success rate first reaches one half. */
  readonly crossing: Crossing;
  readonly paper: { samples: number; relation: 'about' | 'above' } | null;
}

/** The success rate that places the phase-transition boundary: half the trials succeed. */
export const TRANSITION_LEVEL = 0.5;

/** Figure 5's boundary as measured here: for each l, the N at which half the trials succeed. */
export function fig5Transitions(curves: readonly { patchesPerExpert: number; curve: SuccessCurve }[]): TransitionAtL[] {
  return curves.map(({ patchesPerExpert, curve }) => ({
    patchesPerExpert,
    crossing: firstCrossing(
      curve.map((p) => ({ x: p.x, y: p.mean })),
      TRANSITION_LEVEL,
    ),
    paper: paperFig5Boundary(patchesPerExpert) ?? null,
  }));
}

export function fig5Finding(transitions: readonly TransitionAtL[], successAccuracy: number): Finding {
  const markdown = [
    `A trial succeeds when its final test accuracy is at least ${(100 * successAccuracy).toFixed(1)}% (the paper does not state its criterion). ` +
      `The boundary below is the N at which the success rate first reaches ${TRANSITION_LEVEL}, interpolated linearly between measured N; ` +
      "the paper's is read off its fitted O(l^8) curve.",
    '',
    markdownTable(
      ['l', 'boundary N (ours)', 'boundary N (paper)'],
      transitions.map((t) => [
        String(t.patchesPerExpert),
        describeCrossing(t.crossing, 'N'),
        t.paper === null ? '— (not given)' : t.paper.relation === 'above' ? `above ${t.paper.samples}` : `about ${t.paper.samples}`,
      ]),
    ),
  ].join('\n');
  return { title: 'Phase-transition boundary', markdown, data: { successAccuracy, level: TRANSITION_LEVEL, transitions } };
}
