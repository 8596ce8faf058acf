/**
 * The sample-complexity law across regimes of the data model. The scaling experiment (./scaling.ts)
 * measures N_CNN / N_pMoE against n/l on one data configuration; the theory says the advantage
 * depends on how far the irrelevant patches sit from the class patterns (delta_r), how much they
 * vary (the noise spread), how many lean towards the patterns (confusers, which raise l*), and the
 * optimisation each N gets. Each regime changes one of these from the baseline and reruns the
 * same bisections into its own results file (results/scaling-regimes-<regime>.jsonl), so each is a
 * plain scaling sweep that resumes on its own.
 *
 *   pmoe scaling-regimes                 every regime on the reduced grid below
 *   pmoe scaling-regimes --quick         n = 8, 16, l = 2, 2 seeds: minutes
 *
 * The grid (n = 8, 16, 32; l = 2, 4; CNN and separate pMoE; 3 seeds, all must reach 95%; N in
 * [8, 512] with relative tolerance 0.5; 300 test samples) is the scaling experiment's reduced one,
 * so that six regimes fit where one full grid would; any scaling option can be changed for every
 * regime with --set.
 */
import { z } from 'zod';
import { OptionError, oneOf, parseOptions } from '../util/options.js';
import { scalingSchema, type ScalingOptions } from './scaling.js';

export const SCALING_REGIMES_EXPERIMENT = 'scaling-regimes';

export interface ScalingRegime {
  readonly name: string;
  /** What it changes from the baseline, in words. */
  readonly change: string;
  readonly overrides: Partial<z.input<typeof scalingSchema>>;
}

export const SCALING_REGIMES: readonly ScalingRegime[] = [
  { name: 'baseline', change: 'the committed scaling setting: delta_r = 0.15, noise 0.5, no confusers, 400 SGD steps per run', overrides: {} },
  { name: 'noise-low', change: 'noise spread 0.25 (irrelevant patches vary half as much)', overrides: { noise: 0.25 } },
  { name: 'noise-high', change: 'noise spread 1.0 (irrelevant patches vary twice as much)', overrides: { noise: 1 } },
  { name: 'delta-r-low', change: 'delta_r = 0.05 (irrelevant patches nearly orthogonal to the class patterns)', overrides: { deltaR: 0.05 } },
  { name: 'confusers', change: 'one confuser per sample (an irrelevant patch leaning towards a class pattern; l* = 2)', overrides: { confusers: 1 } },
  { name: 'steps-with-n', change: 'a step budget that grows with N: 20 epochs per run instead of 400 steps', overrides: { epochsPerRun: 20 } },
];
export const REGIME_NAMES = SCALING_REGIMES.map((r) => r.name) as [string, ...string[]];

/** The grid every regime shares (a reduced scaling grid). */
export const REGIMES_BASE: Partial<z.input<typeof scalingSchema>> = {
  patchCounts: [8, 16, 32],
  patchesPerExpert: [2, 4],
  models: ['cnn', 'separate'],
  seeds: 3,
  high: 512,
  tolerance: 0.5,
  testSize: 300,
};

export const REGIMES_QUICK: Partial<z.input<typeof scalingSchema>> = {
  patchCounts: [8, 16],
  patchesPerExpert: [2],
  seeds: 2,
  steps: 200,
  high: 256,
  testSize: 200,
};

/** The results file of one regime, beside `dir`. */
export const regimeResultsPath = (dir: string, regime: string, quick: boolean) =>
  `${dir}/${SCALING_REGIMES_EXPERIMENT}-${regime}${quick ? '-quick' : ''}.jsonl`;

/**
 * The scaling settings of each chosen regime: baseline grid, then the user's overrides, then the
 * regime's own change (so a --set never undoes what makes a regime itself). `regimes` picks some.
 */
export function regimeSettings(overrides: Record<string, unknown>, quick: boolean): { regime: ScalingRegime; settings: ScalingOptions }[] {
  const { regimes, ...rest } = overrides;
  const chosen = parseOptions(
    z.object({
      regimes: z
        .array(oneOf(REGIME_NAMES))
        .min(1)
        .default([...REGIME_NAMES]),
    }),
    { regimes },
    SCALING_REGIMES_EXPERIMENT,
  ).regimes;
  return SCALING_REGIMES.filter((r) => chosen.includes(r.name)).map((regime) => {
    const clash = Object.keys(regime.overrides).filter((key) => key in rest);
    if (clash.length > 0)
      throw new OptionError(
        `${SCALING_REGIMES_EXPERIMENT}: --set ${clash.join(', ')} would change what regime '${regime.name}' varies; leave it out or choose other regimes with --set regimes=[...]`,
      );
    const settings = parseOptions(
      scalingSchema,
      { ...REGIMES_BASE, ...(quick ? REGIMES_QUICK : {}), ...rest, ...regime.overrides },
      `${SCALING_REGIMES_EXPERIMENT} ${regime.name}`,
    );
    return { regime, settings };
  });
}
