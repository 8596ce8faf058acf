/**
 * The paper's MNIST numbers (Chowdhury et al., ICML 2023, Figures 4, 5, 7, 8, 9), as collected in
 * PAPER.md section 5. Values marked "read off" come from the plotted figures, not from a table:
 * trust them to about ±0.3 points. Accuracies and rates are percent.
 */

export type ModelName = 'cnn' | 'separate' | 'joint';

/** Figure 4 (read off, ±0.3): test accuracy (%) against N, mean of 5 runs. */
export const PAPER_FIG4 = {
  sizes: [100, 300, 500, 700, 900, 1000],
  accuracy: {
    cnn: [78.6, 89.5, 92.7, 93.9, 94.4, 95.2],
    separate: [82.3, 92.3, 94.7, 95.6, 96.4, 96.7],
    joint: [89.0, 94.3, 94.6, 95.4, 95.1, 96.5],
  } satisfies Record<ModelName, number[]>,
  /** Stated in the text: pMoE needs about 60% of the CNN's samples for 95% test accuracy. */
  claimedSampleFraction: 0.6,
} as const;

/**
 * Figure 5 (read off): separate pMoE phase transition, success rate over 20 trials against l and
 * N = 400..900, with a fitted O(l^8) boundary. The success criterion is not stated; pmoe's is
 * final test accuracy >= a threshold (default 95%). `relation: 'above'` means the boundary lies
 * beyond the largest N plotted.
 */
export const PAPER_FIG5 = {
  boundary: [
    { patchesPerExpert: [2, 3, 4, 5, 6, 7, 8], samples: 500, relation: 'about' },
    { patchesPerExpert: [10], samples: 620, relation: 'about' },
    { patchesPerExpert: [12], samples: 900, relation: 'above' },
  ],
} as const satisfies { boundary: readonly { patchesPerExpert: readonly number[]; samples: number; relation: 'about' | 'above' }[] };

/** The paper's Figure 5 boundary for one l, where the figure shows it. */
export function paperFig5Boundary(patchesPerExpert: number): { samples: number; relation: 'about' | 'above' } | undefined {
  const entry = PAPER_FIG5.boundary.find((b) => (b.patchesPerExpert as readonly number[]).includes(patchesPerExpert));
  return entry && { samples: entry.samples, relation: entry.relation };
}

/** Figure 7 (read off, ±0.3): joint pMoE accuracy peaks at l = 6 (= l*) for every N, then declines slowly. */
export const PAPER_FIG7 = {
  peakPatchesPerExpert: 6,
  peakAccuracy: { 300: 95.3, 600: 96.4, 800: 96.9 } as Readonly<Record<number, number>>,
} as const;

/** Figure 8 (read off, ±0.3): separate routers' discriminative routing rate (%) at N_r = 300, per l. */
export const PAPER_FIG8 = {
  routerSamples: 300,
  rate: { 1: 84, 2: 92, 4: 96.4, 6: 98, 8: 99 } as Readonly<Record<number, number>>,
} as const;

/**
 * Figure 9 (stated in the text, not read off): joint routers (l = 6) at 300 training samples route
 * 95% of class 1 (y = +1, digit 1) and 92% of class 2 (y = -1, digit 0) well.
 */
export const PAPER_FIG9 = {
  samples: 300,
  ratePerClass: [95, 92],
} as const;

/** The paper's protocol for the MNIST figures, to set beside the protocol the runs used. */
export const PAPER_MNIST_PROTOCOL = {
  epochs: 150,
  routerEpochs: 100,
  learningRate: 0.2,
  batchSize: 20,
  testCount: 1000,
  runs: 5,
} as const;
