import { canonicalJson } from '../util/canonical-json.js';
import { hasAuxiliaryLoss } from './auxiliary-losses.js';
import { routeOp, routeOpAvailable } from './route-op.js';
import type { AuxiliaryWeights, HostRouter, Router, RouterConfigBase, RouterInput, RouterShape, SparseDispatch, SparseLayout } from './router.js';

/** What a sparse router file provides; `sparseRouter` makes the Router of it. */
export interface SparseRouterParts {
  readonly config: RouterConfigBase;
  readonly shape: RouterShape;
  readonly host: HostRouter;
  readonly reference: (input: RouterInput) => SparseDispatch;
  readonly auxiliaryWeights: AuxiliaryWeights;
  readonly drawsNoise: boolean;
  /** Whether the gates depend on the scores (false for hard gates). */
  readonly gatesDifferentiable: boolean;
  /** Set when each image is routed alone into slotsPerImage places per expert, or the gates are all 1. */
  readonly layout?: SparseLayout;
  /** Anything else the kernel depends on beyond the config and shape (the paper's gate mode). */
  readonly keyExtra?: unknown;
}

/**
 * A sparse router: where the backend holds tensors in host memory (cpu, wasm) it runs its
 * HostRouter in the route op; elsewhere its plain reference. This is the one place that choice is made.
 */
export function sparseRouter(parts: SparseRouterParts): Router {
  const { config, shape, host, reference, layout = {} } = parts;
  const key = canonicalJson({ config, shape, extra: parts.keyExtra });
  return {
    config,
    shape,
    scoreColumns: shape.experts,
    extraWeights: {},
    drawsNoise: parts.drawsNoise,
    auxiliaryWeights: parts.auxiliaryWeights,
    differentiable: parts.gatesDifferentiable || hasAuxiliaryLoss(parts.auxiliaryWeights),
    host,
    route: (input) => (routeOpAvailable() ? routeOp(host, key, input, shape.experts, layout) : reference(input)),
    reference,
  };
}

/** Auxiliary loss weights with every loss named. */
export function auxiliaryWeights(weights: Partial<AuxiliaryWeights>): AuxiliaryWeights {
  return { importance: weights.importance ?? 0, load: weights.load ?? 0, zLoss: weights.zLoss ?? 0 };
}
