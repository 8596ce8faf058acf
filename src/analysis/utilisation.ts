import type { RoutingArrays } from '../routing/route.js';

/**
 * How a router used its experts. The first four are read from the routing of a set (image by
 * image, evaluation mode); the training ones average the training steps since the last evaluation.
 */
export interface RoutingUtilisation {
  /** Mean patches each expert took per image, expert by expert. */
  readonly patchesPerExpert: readonly number[];
  /** Share of the set's patches that no expert took. */
  readonly untakenPatches: number;
  /** Share of (image, expert) pairs where the expert took none of the image's patches. */
  readonly emptyPairs: number;
  /** Experts that took no patch of the whole set. */
  readonly idleExperts: number;
  /** Training: choices dropped for want of capacity, per patch routed (token choice; 0 for the others). */
  readonly droppedPerPatch?: number;
  /** Training: the router's auxiliary losses, unweighted, mean over the steps (those it computes). */
  readonly auxiliaryLosses?: { readonly importance?: number; readonly load?: number; readonly zLoss?: number };
}

/** What training steps measured of the routing, summed over the steps. */
export interface RoutingStepStats {
  readonly steps: number;
  /** Patches routed. */
  readonly patches: number;
  readonly dropped: number;
  /** Unweighted auxiliary losses (importance, load, z-loss), summed over the steps. */
  readonly auxiliary: readonly number[];
}

/** Utilisation read from a routing (indices -1 where a place holds no patch). */
export function routingUtilisation(routing: RoutingArrays, patches: number): RoutingUtilisation {
  const { batch, experts, patchesPerExpert: places, indices } = routing;
  const perExpert = new Array<number>(experts).fill(0);
  let untaken = 0;
  let emptyPairs = 0;
  const taken = new Uint8Array(patches);
  for (let b = 0; b < batch; b++) {
    taken.fill(0);
    for (let s = 0; s < experts; s++) {
      let count = 0;
      for (let t = 0; t < places; t++) {
        const j = indices[(b * experts + s) * places + t];
        if (j < 0) continue;
        count++;
        taken[j] = 1;
      }
      perExpert[s] += count;
      if (count === 0) emptyPairs++;
    }
    for (let j = 0; j < patches; j++) untaken += 1 - taken[j];
  }
  return {
    patchesPerExpert: perExpert.map((count) => (batch === 0 ? 0 : count / batch)),
    untakenPatches: batch === 0 ? 0 : untaken / (batch * patches),
    emptyPairs: batch === 0 ? 0 : emptyPairs / (batch * experts),
    idleExperts: perExpert.filter((count) => count === 0).length,
  };
}

/** The training fields of RoutingUtilisation from summed step stats; `weights` says which auxiliary losses the router computes. */
export function stepUtilisation(
  stats: RoutingStepStats,
  weights: { readonly importance: number; readonly load: number; readonly zLoss: number },
): Pick<RoutingUtilisation, 'droppedPerPatch' | 'auxiliaryLosses'> {
  if (stats.steps === 0) return {};
  const names = ['importance', 'load', 'zLoss'] as const;
  const losses = Object.fromEntries(names.flatMap((name, i) => (weights[name] > 0 ? [[name, stats.auxiliary[i] / stats.steps]] : [])));
  return {
    droppedPerPatch: stats.patches === 0 ? 0 : stats.dropped / stats.patches,
    ...(Object.keys(losses).length > 0 ? { auxiliaryLosses: losses } : {}),
  };
}
