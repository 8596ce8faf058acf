import type { ExperimentDefinition } from './definition.js';
import { fig4, fig5, fig7, fig8, fig9 } from './mnist-experiments.js';

/** Every named experiment, by name. */
export const EXPERIMENTS: Readonly<Record<string, ExperimentDefinition>> = Object.freeze({ fig4, fig5, fig7, fig8, fig9 });

export function experimentByName(name: string): ExperimentDefinition {
  const found = EXPERIMENTS[name];
  if (!found) throw new RangeError(`unknown experiment '${name}'; known: ${Object.keys(EXPERIMENTS).join(', ')}`);
  return found;
}
