import { InvalidArgumentError } from 'commander';
import type { z } from 'zod';

/** Commander parsers that reject text that is not a number, before any work starts. */
export function parseNumber(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new InvalidArgumentError(`expected a finite number, got '${value}'`);
  return parsed;
}

export function parseInteger(value: string): number {
  const parsed = parseNumber(value);
  if (!Number.isInteger(parsed)) throw new InvalidArgumentError(`expected an integer, got '${value}'`);
  return parsed;
}

export function parseIntegerList(value: string): number[] {
  return value.split(',').map((part) => parseInteger(part.trim()));
}

/**
 * A commander parser: `read` turns the text into a value, then `schema` checks it. Commander's
 * message names the option and the text; the schema's says what is allowed.
 */
export function parseWith<T>(schema: z.ZodType<T>, read: (value: string) => unknown = parseNumber): (value: string) => T {
  return (value) => {
    const result = schema.safeParse(read(value));
    if (!result.success) throw new InvalidArgumentError([...new Set(result.error.issues.map((issue) => issue.message))].join('; '));
    return result.data;
  };
}

/** A parser for an integer or the one word `word` (`--patches-per-expert lstar`). */
export function parseIntegerOr<W extends string>(word: W): (value: string) => number | W {
  return (value) => {
    if (value === word) return word;
    const parsed = Number(value);
    if (value.trim() === '' || !Number.isInteger(parsed)) throw new InvalidArgumentError(`expected an integer or '${word}', got '${value}'`);
    return parsed;
  };
}
