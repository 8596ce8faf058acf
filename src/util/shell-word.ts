/** A word as a POSIX shell reads it back: bare when safe, else single-quoted. */
export const shellWord = (text: string) => (/^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`);
