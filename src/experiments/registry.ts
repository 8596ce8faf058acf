import { closestName } from '../util/suggest.js';
import type { ExperimentDefinition } from './definition.js';
import { fig6 } from './fig6.js';
import { fig4, fig4Fashion, fig5, fig7, fig8, fig9 } from './mnist-experiments.js';
import { pairAtlas } from './pair-atlas.js';
import { routers } from './routers.js';
import { spurious } from './spurious.js';
import { WRN_EXPERIMENTS } from './wrn-experiments.js';

/** Every named experiment, by name. */
export const EXPERIMENTS: Readonly<Record<string, ExperimentDefinition>> = Object.freeze({
  fig4,
  'fig4-fashion': fig4Fashion,
  fig5,
  fig6,
  fig7,
  fig8,
  fig9,
  'pair-atlas': pairAtlas,
  routers,
  ...WRN_EXPERIMENTS,
  spurious,
});

/**
 * Experiments whose runs depend on earlier results (bisections), so they have no fixed run list
 * for `pmoe reproduce`; each has its own command. (By name only: the scaling module imports the
 * sweep, which judges results lines with this registry.)
 */
export const ADAPTIVE_EXPERIMENTS = Object.freeze({ scaling: { command: 'pmoe scaling' } });

/** Why `spec`, read back under the name `experiment`, cannot be one of its runs; undefined when it can, or when no experiment has that name. */
export function experimentRunProblem(experiment: string, spec: unknown): string | undefined {
  return Object.hasOwn(EXPERIMENTS, experiment) ? EXPERIMENTS[experiment].runProblem(spec) : undefined;
}

export function experimentByName(name: string): ExperimentDefinition {
  // Own properties only: '__proto__' or 'constructor' must not find Object.prototype's.
  const found = Object.hasOwn(EXPERIMENTS, name) ? EXPERIMENTS[name] : undefined;
  const adaptive = Object.hasOwn(ADAPTIVE_EXPERIMENTS, name) ? (ADAPTIVE_EXPERIMENTS as Record<string, { command: string }>)[name] : undefined;
  if (!found && adaptive) throw new RangeError(`'${name}' is adaptive (its runs depend on earlier results): run it with \`${adaptive.command}\``);
  if (!found) {
    const names = [...Object.keys(EXPERIMENTS), ...Object.keys(ADAPTIVE_EXPERIMENTS)];
    const meant = closestName(name, names);
    throw new RangeError(`unknown experiment '${name}'${meant ? ` (did you mean ${meant}?)` : ''}; known: ${Object.keys(EXPERIMENTS).join(', ')}`);
  }
  return found;
}
