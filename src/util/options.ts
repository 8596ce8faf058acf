import { z } from 'zod';

/** Thrown for any configuration outside what pmoe allows; the message names option, value and what is allowed. */
export class OptionError extends RangeError {
  override name = 'OptionError';
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return `'${value}'`;
  return JSON.stringify(value) ?? String(value);
}

function lookup(input: unknown, path: readonly PropertyKey[]): unknown {
  let at = input;
  for (const key of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return at;
}

/** One line per problem: `what.option: what is allowed (got value)`; `known` lists the options an unknown one could have been. */
export function formatIssues(what: string, input: unknown, issues: readonly z.core.$ZodIssue[], known?: readonly string[]): string {
  return issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        const given = issue.keys.map((key) => `${describe(key)} (got ${describe(lookup(input, [...issue.path, key]))})`).join(', ');
        const allowed = known && issue.path.length === 0 ? `; known: ${known.join(', ')}` : '';
        return `${what}: unknown option${issue.keys.length > 1 ? 's' : ''} ${given}${allowed}`;
      }
      const option = issue.path.map(String).join('.') || what;
      const value = lookup(input, issue.path);
      // `--set sizes=100,500` arrives as text: a list is JSON, in brackets.
      const hint = issue.code === 'invalid_type' && issue.expected === 'array' && typeof value === 'string' ? `; write a list in brackets, as [${value}]` : '';
      return `${what}.${option}: ${issue.message} (got ${describe(value)})${hint}`;
    })
    .join('\n');
}

/** Parses `input` with `schema`, or throws an OptionError listing every problem. */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) {
    const known = schema instanceof z.ZodObject ? Object.keys(schema.shape) : undefined;
    throw new OptionError(formatIssues(what, input, result.error.issues, known));
  }
  return result.data;
}

/** An integer schema whose message states the allowed range. */
export function integer(min: number, max = Infinity) {
  const allowed = max === Infinity ? `an integer >= ${min}` : `an integer in ${min}..${max}`;
  return z.number({ error: `must be ${allowed}` }).refine((v) => Number.isInteger(v) && v >= min && v <= max, { message: `must be ${allowed}` });
}

/** A finite number schema in [min, max] (bounds inclusive unless said otherwise). */
export function real(min = -Infinity, max = Infinity, { exclusiveMin = false, exclusiveMax = false } = {}) {
  const low = min === -Infinity ? '' : `${exclusiveMin ? '>' : '>='} ${min}`;
  const high = max === Infinity ? '' : `${exclusiveMax ? '<' : '<='} ${max}`;
  const allowed = `a finite number ${[low, high].filter(Boolean).join(' and ')}`.trimEnd();
  return z
    .number({ error: `must be ${allowed}` })
    .refine((v) => Number.isFinite(v) && (exclusiveMin ? v > min : v >= min) && (exclusiveMax ? v < max : v <= max), { message: `must be ${allowed}` });
}

/** A string enum whose message lists the choices. */
export function oneOf<const T extends readonly [string, ...string[]]>(choices: T) {
  return z.enum(choices, { error: `must be one of ${choices.map((c) => `'${c}'`).join(', ')}` });
}
