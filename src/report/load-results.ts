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

const recordSchema = z.object({
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

const specSchema = z.object({
  data: z.object({ trainSize: z.number() }),
  model: modelSchema.optional(),
  training: z.object({ model: z.string().optional(), seed: z.number().optional(), routerSamples: z.number().optional() }).optional(),
});

const lineSchema = z.discriminatedUnion('status', [
  z.object({ key: z.string(), experiment: z.string(), status: z.literal('ok'), spec: specSchema, record: recordSchema }),
  z.object({ key: z.string(), experiment: z.string(), status: z.literal('failed'), spec: specSchema, error: z.string() }),
]);

/** A results line as the report sees it: a ResultLine whose NaNs may have become null. */
export type ReportLine = z.output<typeof lineSchema>;
export type OkLine = Extract<ReportLine, { status: 'ok' }>;
export type FailedLine = Extract<ReportLine, { status: 'failed' }>;
export type ReportRecord = OkLine['record'];
export type ReportSpec = ReportLine['spec'];

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
 * lose runs, so only a torn last line is tolerated.
 */
export async function loadResultsFile(path: string): Promise<LoadedResultsFile> {
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
    const checked = lineSchema.safeParse(parsed);
    if (!checked.success) {
      throw new ReportInputError(`results file ${path}, line ${lineNumber}: not a pmoe result line (${describeIssues(checked.error.issues)})`);
    }
    lines.push(checked.data);
  }
  return { path, lines, tornLines };
}
