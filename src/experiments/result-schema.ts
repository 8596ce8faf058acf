/**
 * The schema of a results line as it is written (JSON: NaN becomes null). The sweep's worker checks
 * every record against it before the line is written, and `pmoe report` checks every line it reads,
 * so a value no run can produce (a routing rate of 7, a negative N) is refused at either end.
 * Only the fields the report reads are kept on parsing (the rest are stripped); arrays are readonly,
 * so an in-memory ResultLine is also a ReportLine.
 */
import { z } from 'zod';

const count = (min: number) => z.number().int().min(min);
// JSON writes NaN (a diverged loss, an accuracy never evaluated) as null, so numbers may come back as null.
const numberOrNull = z.number().nullable();
/** Accuracies and routing rates: shares in [0, 1]. */
const share = z.number().min(0).max(1).nullable();
const nonNegative = z.number().min(0);

const routingRateSchema = z.object({
  rate: share,
  perClass: z.array(share).readonly(),
  samples: count(0),
});

const epochSchema = z.object({
  epoch: count(0),
  trainLoss: numberOrNull,
  trainAccuracy: share,
  testLoss: numberOrNull,
  testAccuracy: share,
  testAccuracyLogitAboveHalf: share.optional(),
});

/** A run on data with a spurious feature (../analysis/spurious-metrics.ts). */
const spuriousSchema = z.object({
  strength: z.number().min(0).max(1),
  classNames: z.array(z.string()).readonly(),
  itemNames: z.array(z.string()).readonly(),
  groups: z.array(z.object({ class: count(0), item: count(0), name: z.string(), count: count(0), accuracy: share })).readonly(),
  balancedAccuracy: share,
  worstGroupAccuracy: share,
  reversedAccuracy: share,
  reversedFrom: z.enum(['reversed set', 'minority groups']),
  routing: z
    .object({
      unit: z.enum(['images', 'patches']),
      experts: z.array(z.object({ truePatch: z.array(share).readonly(), spuriousPatch: z.array(share).readonly() })).readonly(),
    })
    .optional(),
});

const modelSchema = z.object({ patchesPerExpert: count(1).optional(), experts: count(1).optional(), init: z.string().optional() });

/** A two-layer run (CNN, separate or joint pMoE). */
export const patchRecordSchema = z.object({
  data: z.object({ source: z.string(), trainSize: count(1), testCount: count(1).optional(), testSize: count(1).optional() }),
  model: modelSchema,
  training: z.object({
    model: z.string(),
    epochs: count(0),
    seed: count(0),
    routerEpochs: count(0).optional(),
    learningRate: z.number().positive().optional(),
    batchSize: count(1).optional(),
    routerSamples: count(1).optional(),
  }),
  backend: z.string(),
  epochs: z.array(epochSchema).readonly(),
  routingRate: routingRateSchema.optional(),
  routerRoutingRate: routingRateSchema.optional(),
  routerRateByPatchesPerExpert: z.array(share).readonly().optional(),
  finalTestAccuracy: share,
  spurious: spuriousSchema.optional(),
  wallTimeMs: nonNegative,
});

/** An image run (WRN or WRN-pMoE, ../training/run.ts ImageRunRecord). */
export const imageRecordSchema = z.object({
  kind: z.literal('image'),
  data: z.object({ source: z.string(), trainSize: count(1), testSize: count(1) }),
  model: z.object({
    architecture: z.string(),
    wideningFactor: count(1),
    batchNormMomentum: z.number().min(0).max(1),
    experts: count(1).optional(),
    patchesPerExpert: count(1).optional(),
    patchSize: z.union([count(1), z.array(count(1)).readonly()]).optional(),
    kernelSize: count(1).optional(),
    formulation: z.string().optional(),
    head: z.string().optional(),
    routerInit: z.string().optional(),
  }),
  training: z.object({ epochs: count(1), batchSize: count(1), learningRate: z.number().positive(), seed: count(0) }),
  backend: z.string(),
  epochs: z.array(epochSchema).readonly(),
  finalTestAccuracy: share,
  finalTestAccuracyLogitAboveHalf: share.optional(),
  groupAccuracy: z
    .array(z.object({ group: z.string(), count: count(0), accuracy: share }))
    .readonly()
    .optional(),
  spurious: spuriousSchema.optional(),
  trainableParams: count(0),
  flops: z.object({ forwardPerSample: nonNegative, trainStepPerSample: nonNegative, training: nonNegative }),
  steps: count(0),
  trainTimeMs: nonNegative,
  wallTimeMs: nonNegative,
});

export const patchSpecSchema = z.object({
  data: z.object({ trainSize: count(1) }),
  model: modelSchema.optional(),
  training: z.object({ model: z.string().optional(), seed: count(0).optional(), routerSamples: count(1).optional() }).optional(),
});

export const imageSpecSchema = z.object({
  kind: z.literal('image'),
  data: z.object({ source: z.string(), trainSize: count(1) }),
  model: z.object({ architecture: z.string(), patchesPerExpert: count(1).optional() }),
  training: z.object({ seed: count(0).optional() }).optional(),
});

const failedAttemptSchema = z.object({ cause: z.string(), error: z.string() });

function lineSchemaOf<S extends z.ZodType, R extends z.ZodType>(spec: S, record: R) {
  return z.discriminatedUnion('status', [
    z.object({
      key: z.string(),
      experiment: z.string(),
      status: z.literal('ok'),
      spec,
      record,
      failedAttempts: z.array(failedAttemptSchema).readonly().optional(),
    }),
    z.object({
      key: z.string(),
      experiment: z.string(),
      status: z.literal('failed'),
      spec,
      error: z.string(),
      cause: z.string().optional(),
      failedAttempts: z.array(failedAttemptSchema).readonly().optional(),
    }),
  ]);
}
const patchLineSchema = lineSchemaOf(patchSpecSchema, patchRecordSchema);
const imageLineSchema = lineSchemaOf(imageSpecSchema, imageRecordSchema);

const isImage = (value: unknown) => (value as { kind?: unknown } | null)?.kind === 'image';

/** The schema of a parsed line: an image run's (its spec says `kind: 'image'`) or a two-layer run's. */
export function resultLineSchema(line: unknown) {
  return isImage((line as { spec?: unknown } | null)?.spec) ? imageLineSchema : patchLineSchema;
}

/** The schema of a record as written (after a JSON round trip), by its kind. */
export function runRecordSchema(record: unknown) {
  return isImage(record) ? imageRecordSchema : patchRecordSchema;
}

/** One line per problem: `path: message (got value)`. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], input: unknown): string {
  return issues
    .map((issue) => {
      let got: unknown = input;
      for (const key of issue.path) got = got !== null && typeof got === 'object' ? (got as Record<PropertyKey, unknown>)[key] : undefined;
      const shown = got === undefined || (typeof got === 'object' && got !== null) ? '' : ` (got ${JSON.stringify(got)})`;
      return `${issue.path.map(String).join('.') || '(line)'}: ${issue.message}${shown}`;
    })
    .join('; ');
}

/** Throws when a finished run's record is not one the report can read: a bug, caught before the line is written. */
export function checkRunRecord(record: unknown): void {
  const written: unknown = JSON.parse(JSON.stringify(record));
  const checked = runRecordSchema(written).safeParse(written);
  if (!checked.success) throw new Error(`the run's record is not valid (${describeIssues(checked.error.issues, written)})`);
}
