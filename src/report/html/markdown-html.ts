/**
 * The report's Markdown as HTML with marked (GitHub-flavoured tables). The Markdown holds text from
 * results files (experiment names, error messages), so raw HTML in it is escaped, except the few
 * tags the report writes itself (<details>, <summary>).
 */
import { Marked, type Tokens } from 'marked';

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
