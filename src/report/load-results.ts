import { readFile, stat } from 'node:fs/promises';
import { z } from 'zod';

/** A results file the report cannot use; the message names the file (and the line where there is one). */
export class ReportInputError extends Error {
  override name = 'ReportInputError';
}

// JSON writes NaN (a diverged loss, an accuracy never evaluated) as null, so numbers may come back as null.
const numberOrNull = z.number().nullable();

const routingRateSchema = z.object({
  rate: numberOrNull,
  perClass: z.array(numberOrNull).readonly(),
  samples: z.number(),
});

const epochSchema = z.object({
  epoch: z.number(),
  trainLoss: numberOrNull,
  trainAccuracy: numberOrNull,
  testLoss: numberOrNull,
  testAccuracy: numberOrNull,
});

// Only the fields the report reads are kept (the rest are stripped), and arrays are readonly, so an
// in-memory ResultLine is also a ReportLine.
const modelSchema = z.object({ patchesPerExpert: z.number().optional(), experts: z.number().optional(), init: z.string().optional() });

/** A two-layer run (CNN, separate or joint pMoE). */
const patchRecordSchema = z.object({
  data: z.object({ source: z.string(), trainSize: z.number(), testCount: z.number().optional(), testSize: z.number().optional() }),
  model: modelSchema,
  training: z.object({
    model: z.string(),
    epochs: z.number(),
    seed: z.number(),
    routerEpochs: z.number().optional(),
    learningRate: z.number().optional(),
    batchSize: z.number().optional(),
    routerSamples: z.number().optional(),
  }),
  backend: z.string(),
  epochs: z.array(epochSchema).readonly(),
  routingRate: routingRateSchema.optional(),
  routerRoutingRate: routingRateSchema.optional(),
  routerRateByPatchesPerExpert: z.array(numberOrNull).readonly().optional(),
  finalTestAccuracy: numberOrNull,
  wallTimeMs: z.number(),
});

/** An image run (WRN or WRN-pMoE, ../training/run.ts ImageRunRecord). */
const imageRecordSchema = z.object({
  kind: z.literal('image'),
  data: z.object({ source: z.string(), trainSize: z.number(), testSize: z.number() }),
  model: z.object({
    architecture: z.string(),
    wideningFactor: z.number(),
    batchNormMomentum: z.number(),
    experts: z.number().optional(),
    patchesPerExpert: z.number().optional(),
    patchSize: z.union([z.number(), z.array(z.number()).readonly()]).optional(),
    kernelSize: z.number().optional(),
  }),
  training: z.object({ epochs: z.number(), batchSize: z.number(), learningRate: z.number(), seed: z.number() }),
  backend: z.string(),
  epochs: z.array(epochSchema).readonly(),
  finalTestAccuracy: numberOrNull,
  groupAccuracy: z.array(z.object({ group: z.string(), count: z.number(), accuracy: numberOrNull })).readonly().optional(),
  trainableParams: z.number(),
  flops: z.object({ forwardPerSample: z.number(), trainStepPerSample: z.number(), training: z.number() }),
  steps: z.number(),
  trainTimeMs: z.number(),
  wallTimeMs: z.number(),
});

const patchSpecSchema = z.object({
  data: z.object({ trainSize: z.number() }),
  model: modelSchema.optional(),
  training: z.object({ model: z.string().optional(), seed: z.number().optional(), routerSamples: z.number().optional() }).optional(),
});

const imageSpecSchema = z.object({
  kind: z.literal('image'),
  data: z.object({ source: z.string(), trainSize: z.number() }),
  model: z.object({ architecture: z.string(), patchesPerExpert: z.number().optional() }),
  training: z.object({ seed: z.number().optional() }).optional(),
});

function lineSchemaOf<S extends z.ZodType, R extends z.ZodType>(spec: S, record: R) {
  return z.discriminatedUnion('status', [
    z.object({ key: z.string(), experiment: z.string(), status: z.literal('ok'), spec, record }),
    z.object({ key: z.string(), experiment: z.string(), status: z.literal('failed'), spec, error: z.string() }),
  ]);
}
const patchLineSchema = lineSchemaOf(patchSpecSchema, patchRecordSchema);
const imageLineSchema = lineSchemaOf(imageSpecSchema, imageRecordSchema);

export type PatchReportRecord = z.output<typeof patchRecordSchema>;
export type ImageReportRecord = z.output<typeof imageRecordSchema>;
export type ReportRecord = PatchReportRecord | ImageReportRecord;
export type ReportSpec = z.output<typeof patchSpecSchema> | z.output<typeof imageSpecSchema>;

/**
 * A results line as the report sees it: a ResultLine whose NaNs may have become null. A file's
 * lines are checked as image runs (`kind: 'image'`) or two-layer runs, whichever they say they are.
 */
export type ReportLine =
  | { readonly key: string; readonly experiment: string; readonly status: 'ok'; readonly spec: ReportSpec; readonly record: ReportRecord }
  | { readonly key: string; readonly experiment: string; readonly status: 'failed'; readonly spec: ReportSpec; readonly error: string };
export type OkLine = Extract<ReportLine, { status: 'ok' }>;
export type FailedLine = Extract<ReportLine, { status: 'failed' }>;
export type PatchOkLine = OkLine & { readonly record: PatchReportRecord };
export type ImageOkLine = OkLine & { readonly spec: z.output<typeof imageSpecSchema>; readonly record: ImageReportRecord };

export function isImageRecord(record: ReportRecord): record is ImageReportRecord {
  return 'kind' in record && record.kind === 'image';
}
export function isImageSpec(spec: ReportSpec): spec is z.output<typeof imageSpecSchema> {
  return 'kind' in spec && spec.kind === 'image';
}
export const isImageLine = (line: OkLine): line is ImageOkLine => isImageRecord(line.record);
export const isPatchLine = (line: OkLine): line is PatchOkLine => !isImageRecord(line.record);

export interface LoadedResultsFile {
  readonly path: string;
  readonly lines: ReportLine[];
  /** 1 when the last line has no newline and does not parse: a write cut short by a kill. */
  readonly tornLines: number;
}

function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((issue) => `${issue.path.map(String).join('.') || '(line)'}: ${issue.message}`).join('; ');
}

/**
 * Reads one JSON Lines results file strictly: unlike the sweep's reader (which treats a missing
 * file as empty and drops what it cannot parse, so it can resume), a report must not silently
 * lose runs, so only a torn last line is tolerated. Fields the report does not read are dropped
 * unless `keepAllFields`.
 */
export async function loadResultsFile(path: string, options: { keepAllFields?: boolean } = {}): Promise<LoadedResultsFile> {
  let text: string;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new ReportInputError(`results file ${path} is not a file`);
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof ReportInputError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ReportInputError(`results file not found: ${path}`);
    throw new ReportInputError(`cannot read results file ${path}: ${(error as Error).message}`);
  }
  const parts = text.split('\n');
  const lines: ReportLine[] = [];
  let tornLines = 0;
  for (const [index, part] of parts.entries()) {
    if (part.trim() === '') continue;
    const lineNumber = index + 1;
    const isLast = index === parts.length - 1;
    let parsed: unknown;
    try {
      parsed = JSON.parse(part);
    } catch {
      if (isLast) {
        tornLines++;
        continue;
      }
      throw new ReportInputError(`results file ${path}, line ${lineNumber}: not JSON (is this a pmoe results file?)`);
    }
    const isImage = (parsed as { spec?: { kind?: unknown } } | null)?.spec?.kind === 'image';
    const checked = (isImage ? imageLineSchema : patchLineSchema).safeParse(parsed);
    if (!checked.success) {
      throw new ReportInputError(`results file ${path}, line ${lineNumber}: not a pmoe result line (${describeIssues(checked.error.issues)})`);
    }
    // keepAllFields: checked but whole, for `pmoe merge`, which writes the lines back.
    lines.push((options.keepAllFields ? parsed : checked.data) as ReportLine);
  }
  return { path, lines, tornLines };
}
