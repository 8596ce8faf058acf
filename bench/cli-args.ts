import { InvalidArgumentError } from 'commander';

/** Commander's parser for an option that takes an integer of at least 1. */
export function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('must be an integer of at least 1');
  return parsed;
}
