/**
 * How an expert weights the patches it selected (G_{j,s} in the paper, eq. 1 and 4).
 * - `softmax-selected`: softmax over the l selected scores (the paper; the official MNIST code).
 * - `softmax-all`: softmax over all n scores, then keep the l selected values without
 *   renormalising (the official CIFAR/CelebA code).
 * - `hard`: 1 for every selected patch (separate training's expert phase); the router gets no gradient.
 */
export const GATE_MODES = ['softmax-selected', 'softmax-all', 'hard'] as const;
export type GateMode = (typeof GATE_MODES)[number];

/** How an expert's hidden units are pooled: 1/l over its selected patches (the paper) or 1/n (the official code). */
export const POOLINGS = ['selected', 'all'] as const;
export type Pooling = (typeof POOLINGS)[number];
