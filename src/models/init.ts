/**
 * Initial standard deviations of the trainable weights.
 * - `paper`: hidden weights w ~ N(0, 1/m) with m the total number of neurons; routers N(0, sigma_r^2)
 *   with sigma_r tiny (1e-4).
 * - `code`: the official code's values: CNN and separate-training experts N(0, 0.1^2), their
 *   routers N(0, 0.1^2); joint-training experts N(0, 0.01^2) and routers N(0, 1e-4^2).
 */
export const INIT_SCHEMES = ['paper', 'code'] as const;
export type InitScheme = (typeof INIT_SCHEMES)[number];

export const REGIMES = ['separate', 'joint'] as const;
export type Regime = (typeof REGIMES)[number];

export interface InitStd {
  readonly hidden: number;
  readonly router: number;
}

/** `regime` is undefined for the CNN. */
export function initStd(scheme: InitScheme, totalNeurons: number, regime?: Regime): InitStd {
  if (scheme === 'paper') return { hidden: 1 / Math.sqrt(totalNeurons), router: 1e-4 };
  return regime === 'joint' ? { hidden: 0.01, router: 1e-4 } : { hidden: 0.1, router: 0.1 };
}
