import { describeCrossing, firstCrossing, type Crossing } from './crossing.js';
import type { Finding } from './finding.js';
import { markdownTable, signed } from './markdown-table.js';

/** Mean accuracy (%) at each measured N of one model. */
export type AccuracyCurve = readonly { readonly x: number; readonly mean: number }[];

export interface MarginAtSize {
  readonly samples: number;
  readonly cnn: number;
  readonly pmoe: number;
  /** pMoE minus CNN, in accuracy points. */
  readonly margin: number;
  readonly atOrAbove: boolean;
}

export interface PmoeVersusCnn {
  readonly model: string;
  /** True when pMoE's mean is at or above the CNN's at every N both measured (false if none). */
  readonly atOrAboveEverywhere: boolean;
  readonly margins: readonly MarginAtSize[];
  /** N the CNN measured but this model did not (or the reverse): not compared. */
  readonly unmatchedSizes: readonly number[];
}

export interface SamplesToMatchCnn {
  readonly model: string;
  readonly crossing: Crossing;
  /** The interpolated N (an upper bound when the crossing is at the first measured N); null if not reached. */
  readonly samples: number | null;
  /** samples / the reference N. */
  readonly fraction: number | null;
}

export interface Fig4Claims {
  readonly referenceSamples: number;
  /** The CNN's mean accuracy at the reference N; null when the CNN was not measured there. */
  readonly cnnAtReference: number | null;
  readonly versus: readonly PmoeVersusCnn[];
  readonly samplesToMatch: readonly SamplesToMatchCnn[];
}

/**
 * The two claims Figure 4 illustrates, computed from mean curves: (1) pMoE is at least as accurate
 * as the CNN at every N; (2) pMoE reaches the CNN's accuracy at N = 1000 with a fraction of the
 * samples (the paper: about 60%).
 */
export function fig4Claims(cnn: AccuracyCurve, pmoes: readonly { model: string; curve: AccuracyCurve }[], referenceSamples = 1000): Fig4Claims {
  const cnnAt = new Map(cnn.filter((p) => Number.isFinite(p.mean)).map((p) => [p.x, p.mean]));
  const cnnAtReference = cnnAt.get(referenceSamples) ?? null;
  const versus = pmoes.map(({ model, curve }) => {
    const own = new Map(curve.filter((p) => Number.isFinite(p.mean)).map((p) => [p.x, p.mean]));
    const shared = [...cnnAt.keys()].filter((n) => own.has(n)).sort((a, b) => a - b);
    const margins = shared.map((samples) => {
      const margin = own.get(samples)! - cnnAt.get(samples)!;
      return { samples, cnn: cnnAt.get(samples)!, pmoe: own.get(samples)!, margin, atOrAbove: margin >= 0 };
    });
    const unmatchedSizes = [...new Set([...cnnAt.keys(), ...own.keys()])].filter((n) => !shared.includes(n)).sort((a, b) => a - b);
    return { model, atOrAboveEverywhere: margins.length > 0 && margins.every((m) => m.atOrAbove), margins, unmatchedSizes };
  });
  const samplesToMatch =
    cnnAtReference === null
      ? []
      : pmoes.map(({ model, curve }) => {
          const crossing = firstCrossing(
            curve.map((p) => ({ x: p.x, y: p.mean })),
            cnnAtReference,
          );
          const samples = crossing.kind === 'not-reached' ? null : crossing.x;
          return { model, crossing, samples, fraction: samples === null ? null : samples / referenceSamples };
        });
  return { referenceSamples, cnnAtReference, versus, samplesToMatch };
}

const percent = (fraction: number | null) => (fraction === null ? '—' : `${Math.round(100 * fraction)}%`);

/** The claims in words, ours beside the same computation on the paper's read-off values. */
export function fig4Finding(ours: Fig4Claims, paper: Fig4Claims, claimedFraction: number): Finding {
  const parts: string[] = [];
  parts.push("Computed from this report's mean accuracies (margins in accuracy points, pMoE minus CNN).", '');
  for (const versus of ours.versus) {
    const verdict = versus.margins.length === 0 ? 'cannot tell (no N measured for both)' : versus.atOrAboveEverywhere ? 'yes' : 'no';
    parts.push(`**${versus.model} at or above the CNN at every measured N: ${verdict}.**`, '');
    if (versus.margins.length > 0) {
      parts.push(
        markdownTable(
          ['N', 'CNN (%)', `${versus.model} (%)`, 'margin', 'at or above?'],
          versus.margins.map((m) => [String(m.samples), m.cnn.toFixed(2), m.pmoe.toFixed(2), signed(m.margin, 2), m.atOrAbove ? 'yes' : 'no']),
          ['right', 'right', 'right', 'right', 'left'],
        ),
        '',
      );
    }
    if (versus.unmatchedSizes.length > 0) parts.push(`Not compared (measured for only one of the two): N = ${versus.unmatchedSizes.join(', ')}.`, '');
  }
  const N = ours.referenceSamples;
  if (ours.cnnAtReference === null) {
    parts.push(`**Samples to reach the CNN's accuracy at N = ${N}:** cannot compute, the CNN was not measured at N = ${N}.`);
  } else {
    parts.push(
      `**Samples each pMoE needs to reach the CNN's accuracy at N = ${N}** (${ours.cnnAtReference.toFixed(2)}% here; ` +
        `${paper.cnnAtReference?.toFixed(1) ?? '—'}% in the paper), by linear interpolation between measured N at the first N where the mean reaches it:`,
      '',
    );
    const paperByModel = new Map(paper.samplesToMatch.map((s) => [s.model, s]));
    parts.push(
      markdownTable(
        ['model', 'samples needed (ours)', `fraction of ${N} (ours)`, "same computation on the paper's values"],
        ours.samplesToMatch.map((s) => {
          const onPaper = paperByModel.get(s.model);
          return [
            s.model,
            describeCrossing(s.crossing, 'N'),
            percent(s.fraction),
            onPaper ? `${describeCrossing(onPaper.crossing, 'N')}, ${percent(onPaper.fraction)}` : '—',
          ];
        }),
      ),
      '',
      `The paper states that pMoE needs about ${Math.round(100 * claimedFraction)}% of the CNN's samples (for 95% test accuracy).`,
    );
  }
  return { title: 'Figure 4 claims, from these numbers', markdown: parts.join('\n'), data: { ours, paper, paperClaimedFraction: claimedFraction } };
}
