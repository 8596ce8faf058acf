import { InvalidArgumentError } from 'commander';

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
