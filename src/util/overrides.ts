import { OptionError } from './options.js';

/** `--set key=value` pairs as an options object; values are JSON where they parse, text otherwise. */
export function parseOverrides(pairs: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      if (at < 1) throw new OptionError(`--set takes key=value (for example seeds=2 or sizes=[100,500]); got '${pair}'`);
      const key = pair.slice(0, at);
      const text = pair.slice(at + 1);
      try {
        return [key, JSON.parse(text)];
      } catch (error) {
        // Text that starts like a list, object or string must be JSON; other text is plain (init=code).
        if (/^\s*[[{"]/.test(text)) {
          throw new OptionError(`--set ${key}: '${text}' is not valid JSON (${(error as Error).message}); write lists as [100,500]`);
        }
        return [key, text];
      }
    }),
  );
}
