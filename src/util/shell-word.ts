/**
 * The one quoting rule for every command line pmoe writes into a script, a manifest or a report:
 * each word as a POSIX shell reads it back, bare when it holds only safe characters, else
 * single-quoted (inside which nothing is special but the quote itself). A control character
 * (a newline above all) is never written raw, so no text can end a line and start a command:
 * such a word is written in ANSI-C quotes ($'a\x0ab', read by bash, zsh, ksh and POSIX.1-2024 sh).
 * Generated scheduler files refuse control characters outright (refuseControlCharacters), since
 * some of their values are not shell words (an #SBATCH directive, a YAML comment).
 */
import { OptionError } from './options.js';

const SAFE = /^[\w@%+=:,./-]+$/;
/**
 * C0 controls, DEL, C1 controls, the Unicode line and paragraph separators, and the invisible
 * format characters that reorder or hide text (bidirectional overrides and isolates, zero-width
 * characters), which would make a script read otherwise than it runs.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/u;
// eslint-disable-next-line no-control-regex -- as CONTROL
const CONTROL_ALL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/gu;

const codePoint = (character: string) => `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
// Its UTF-8 bytes, each as \xHH: bash turns them back into the same bytes whatever the locale.
const ansiEscape = (character: string) => [...Buffer.from(character, 'utf8')].map((byte) => `\\x${byte.toString(16).padStart(2, '0')}`).join('');

/** A word as a POSIX shell reads it back: bare when safe, else single-quoted; control characters in ANSI-C quotes. */
export function shellWord(text: string): string {
  if (SAFE.test(text)) return text;
  if (!CONTROL.test(text)) return `'${text.replace(/'/g, `'\\''`)}'`;
  const escaped = text.replace(/[\\']/g, '\\$&').replace(CONTROL_ALL, ansiEscape);
  return `$'${escaped}'`;
}

/** Whether `text` is one bare shell word (letters, digits and _@%+=:,./-): what an unquoted #SBATCH value must be. */
export const isBareWord = (text: string) => SAFE.test(text);

/** Throws an OptionError naming `option` when `text` holds a control character (a newline, a tab, an escape). */
export function refuseControlCharacters(text: string, option: string): void {
  const found = CONTROL.exec(text);
  if (found) {
    throw new OptionError(
      `${option}: holds the control character ${codePoint(found[0])} (got ${JSON.stringify(text)}); control characters such as newlines ` +
        'are refused in what goes into a generated script or manifest',
    );
  }
}
