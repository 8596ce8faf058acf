/**
 * Numbers as pmoe reads them from a command line or an environment variable: plain decimal, with
 * an optional minus sign, fraction and exponent (`150`, `-0.5`, `2e-3`). JavaScript's Number()
 * also takes `0x10`, `0b11`, `0o7`, `+5`, surrounding spaces and `Infinity`, none of which a user
 * means as a count (`--train-size 0x10` would train 16 samples): those are refused.
 */
const DECIMAL = /^-?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?$/i;

/** The number `text` writes in decimal, or undefined when it is not one (or is too large for a finite number). */
export function parseDecimal(text: string): number | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}
