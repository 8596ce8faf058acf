/**
 * The report's Markdown as HTML with marked (GitHub-flavoured tables). The Markdown holds text from
 * results files (experiment names, error messages), so raw HTML in it is escaped, except the few
 * tags the report writes itself (<details>, <summary>).
 */
import { Marked, type Tokens } from 'marked';
import { turnEventLoop } from '../../util/event-loop.js';

export const escapeHtml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

const ALLOWED_TAG = /&lt;(\/?)(details|summary)&gt;/g;

/** Markdown -> HTML; headings move down `headingShift` levels (the page has its own <h1>). */
export function markdownToHtml(markdown: string, headingShift = 1): string {
  const marked = new Marked({
    gfm: true,
    async: false,
    renderer: {
      html({ text }: Tokens.HTML | Tokens.Tag): string {
        return escapeHtml(text).replace(ALLOWED_TAG, '<$1$2>');
      },
      heading(this: { parser: { parseInline(tokens: Tokens.Generic[]): string } }, { tokens, depth }: Tokens.Heading): string {
        const level = Math.min(6, depth + headingShift);
        return `<h${level}>${this.parser.parseInline(tokens)}</h${level}>\n`;
      },
    },
  });
  return marked.parse(markdown) as string;
}

/** Table rows converted per marked call by markdownToHtmlInTurns. */
const ROWS_PER_TURN = 500;
const DELIMITER_ROW = /^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

/**
 * markdownToHtml, with the event loop turning while it works (a Ctrl-C is handled at once): a
 * table of more than ROWS_PER_TURN rows (a report's list of every run) is converted a slice at a
 * time and the slices' rows joined into one table. Only a table with a blank line (or the start or
 * end of the text) on either side is sliced, so the HTML is the same as markdownToHtml's.
 */
export async function markdownToHtmlInTurns(markdown: string, headingShift = 1): Promise<string> {
  const lines = markdown.split('\n');
  const out: string[] = [];
  let textStart = 0;
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!(lines[i].startsWith('|') && DELIMITER_ROW.test(lines[i + 1]) && (i === 0 || lines[i - 1].trim() === ''))) continue;
    let end = i + 2;
    while (end < lines.length && lines[end].startsWith('|')) end++;
    if (end - i - 2 <= ROWS_PER_TURN || (end < lines.length && lines[end].trim() !== '')) continue;
    // Without its blank last lines, as marked ends the block before a table in the whole text.
    if (i > textStart) out.push(markdownToHtml(lines.slice(textStart, i).join('\n').replace(/\n+$/, ''), headingShift));
    const header = lines.slice(i, i + 2);
    for (let start = i + 2; start < end; start += ROWS_PER_TURN) {
      await turnEventLoop();
      const html = markdownToHtml([...header, ...lines.slice(start, Math.min(end, start + ROWS_PER_TURN))].join('\n'), headingShift);
      const rows = html.slice(html.indexOf('<tbody>') + '<tbody>'.length, html.lastIndexOf('</tbody>'));
      out.push(start === i + 2 ? html.slice(0, html.indexOf('<tbody>') + '<tbody>'.length) + rows : rows);
    }
    out.push('</tbody></table>\n');
    textStart = i = end;
  }
  if (textStart < lines.length) out.push(markdownToHtml(lines.slice(textStart).join('\n'), headingShift));
  return out.join('');
}
