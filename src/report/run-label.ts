import { isImageSpec, type ReportSpec } from './load-results.js';

/** A run in a few words, e.g. "separate N=500 l=2 seed=3" or "wrn-pmoe N=2000 seed=1", for lists of failures and wall times. */
export function runLabel(spec: ReportSpec): string {
  if (isImageSpec(spec)) return `${spec.model.architecture} N=${spec.data.trainSize} seed=${spec.training?.seed ?? 0}`;
  const model = spec.training?.model ?? 'joint';
  const l = spec.model?.patchesPerExpert;
  const routerSamples = spec.training?.routerSamples;
  return [
    model,
    `N=${spec.data.trainSize}`,
    routerSamples === undefined ? '' : `N_r=${routerSamples}`,
    model !== 'cnn' && l !== undefined ? `l=${l}` : '',
    `seed=${spec.training?.seed ?? 0}`,
  ]
    .filter(Boolean)
    .join(' ');
}
