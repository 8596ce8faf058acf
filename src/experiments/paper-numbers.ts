/**
 * The paper's MNIST numbers (Chowdhury et al., ICML 2023, Figures 4, 5, 7, 8, 9), as collected in
 * docs/paper.md §5. Values marked "read off" come from the plotted figures, not from a table:
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

/** The two models of the Wide-ResNet figures, as the legends name them. */
export type WrnModelName = 'wrn' | 'wrn-pmoe';

/**
 * Figures 10-16 (read off, about ±0.3 points; docs/paper.md §5): test accuracy (%) at epoch 50, mean of
 * 5 runs, against N. Figure 10's N are the official code's (the figure's axis is not in the paper's text).
 */
export const PAPER_WRN: Readonly<
  Record<
    'fig10' | 'fig11' | 'fig12' | 'fig14' | 'fig15' | 'fig16',
    { readonly sizes: readonly number[]; readonly accuracy: Readonly<Record<WrnModelName, readonly number[]>>; readonly claim?: string }
  >
> = {
  fig10: {
    sizes: [2000, 4000, 6000, 8000, 10000],
    accuracy: { wrn: [81.0, 83.9, 85.0, 86.0, 86.3], 'wrn-pmoe': [88.3, 89.1, 89.4, 89.7, 90.1] },
    claim: 'WRN-pMoE needs less than one-fifth of the samples WRN needs for 86% test accuracy.',
  },
  fig11: { sizes: [5000, 10000, 15000, 20000, 25000], accuracy: { wrn: [60, 66, 65, 72, 80], 'wrn-pmoe': [70, 76, 78, 80, 86] } },
  fig12: { sizes: [4000, 8000, 12000, 16000], accuracy: { wrn: [74.6, 83.1, 85.2, 86.1], 'wrn-pmoe': [84.8, 86.2, 87.1, 87.8] } },
  fig14: { sizes: [20000, 30000, 40000, 50000], accuracy: { wrn: [74.9, 78.6, 81.2, 82.75], 'wrn-pmoe': [76.0, 79.6, 82.0, 83.3] } },
  fig15: { sizes: [10000, 20000, 30000, 40000, 50000], accuracy: { wrn: [41.7, 56.1, 62.8, 66.9, 69.7], 'wrn-pmoe': [53.9, 63.6, 68.6, 71.3, 73.3] } },
  fig16: { sizes: [4000, 8000, 12000, 16000, 20000], accuracy: { wrn: [50.3, 60.8, 68.5, 74.0, 77.6], 'wrn-pmoe': [60.6, 71.4, 76.5, 79.8, 82.3] } },
};

/**
 * Table 2 (stated): training time (s) on CelebA 4 classes (Figure 12's runs), one GPU, at
 * N = 4k/8k/12k/16k; the paper derives "about 42% fewer FLOPs" from these times.
 */
export const PAPER_TABLE2 = {
  experiment: 'fig12',
  sizes: [4000, 8000, 12000, 16000],
  seconds: { wrn: [260, 324, 468, 630], 'wrn-pmoe': [156, 192, 280, 368] } satisfies Record<WrnModelName, number[]>,
} as const;

/** The official code's protocol for the Wide-ResNet figures. */
export const PAPER_WRN_PROTOCOL = {
  wideningFactor: 10,
  epochs: 50,
  batchSize: 128,
  learningRate: 0.1,
  /** Keras's BatchNormalization default, which the code keeps [C]. */
  batchNormMomentum: 0.99,
  runs: 5,
} as const;
