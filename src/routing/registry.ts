import { z } from 'zod';
import type { GateMode } from './gate.js';
import { OptionError } from '../util/options.js';
import type { Router, RouterShape } from './router.js';
import { batchExpertChoiceSchema, createBatchExpertChoice } from './routers/batch-expert-choice.js';
import { createExpertChoice, expertChoiceSchema } from './routers/expert-choice.js';
import { createSoftMoe, softMoeSchema } from './routers/soft-moe.js';
import { createTokenChoice, tokenChoiceSchema } from './routers/token-choice.js';

/**
 * Every router by name: its options (a zod schema with `name` and documented defaults) and how to
 * build it for a shape. The models take a router setting (a name, or an object with `name` and the
 * router's options) and never look at the name again. Adding a router: one file in ./routers/ and
 * one line here (docs/routing.md).
 */
const ROUTERS = {
  'expert-choice': { schema: expertChoiceSchema, create: createExpertChoice },
  'token-choice': { schema: tokenChoiceSchema, create: createTokenChoice },
  'batch-expert-choice': { schema: batchExpertChoiceSchema, create: createBatchExpertChoice },
  'soft-moe': { schema: softMoeSchema, create: createSoftMoe },
} as const;

export type RouterName = keyof typeof ROUTERS;
export const ROUTER_NAMES = Object.keys(ROUTERS) as RouterName[];
/** The paper's router: expert choice per image. */
export const DEFAULT_ROUTER = 'expert-choice' satisfies RouterName;

/** A resolved router configuration, every default filled in. */
export type RouterConfig = { [N in RouterName]: z.output<(typeof ROUTERS)[N]['schema']> }[RouterName];
/** What a user may write: a router's name, or its options with `name`. */
export type RouterSetting = RouterName | { [N in RouterName]: z.input<(typeof ROUTERS)[N]['schema']> }[RouterName];

const schemas = Object.values(ROUTERS).map((entry) => entry.schema);

/** The setting's schema: a name or an object, resolved to the router's full configuration. */
export const routerSettingSchema = z.preprocess(
  (value) => (typeof value === 'string' ? { name: value } : value),
  z.discriminatedUnion('name', schemas as unknown as [typeof expertChoiceSchema, ...(typeof expertChoiceSchema)[]], {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? `must be a router name or { name, ...options } with name one of ${ROUTER_NAMES.map((n) => `'${n}'`).join(', ')}`
        : undefined,
  }),
) as unknown as z.ZodType<RouterConfig, RouterSetting>;

/**
 * Builds the router a configuration names for this shape. `gate` is the model's gate mode, which
 * the paper's router gates by (the others gate by their own rule).
 */
export function createRouter(config: RouterConfig, shape: RouterShape, gate: GateMode): Router {
  const entry = (ROUTERS as Record<string, { create: (config: never, shape: RouterShape, gate: GateMode) => Router }>)[config.name];
  if (!entry) throw new OptionError(`router.name: must be one of ${ROUTER_NAMES.map((n) => `'${n}'`).join(', ')} (got '${config.name}')`);
  return entry.create(config as never, shape, gate);
}

/** The paper's router with its defaults: what a model routes by when its `router` is unset. */
export const DEFAULT_ROUTER_CONFIG: RouterConfig = expertChoiceSchema.parse({ name: DEFAULT_ROUTER });

/**
 * Whether a configuration is the paper's routing exactly (unset, or the paper's router with its
 * defaults): the steps written for that routing alone (the fused and WebGPU WRN steps) ask this.
 */
export function isPaperRouting(config: RouterConfig | undefined): boolean {
  return config === undefined || JSON.stringify(config) === JSON.stringify(DEFAULT_ROUTER_CONFIG);
}
