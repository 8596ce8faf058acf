/** A GitHub-flavoured Markdown table; `|` in cells is escaped so a cell cannot split a row. */
export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[], align: readonly ('left' | 'right')[] = []): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const rule = headers.map((_, i) => (align[i] === 'right' ? '---:' : '---'));
  return [headers, rule, ...rows].map((row, i) => `| ${(i === 1 ? row : row.map(cell)).join(' | ')} |`).join('\n');
}

/** A signed difference, e.g. "+1.30" or "-0.40" (never "-0.00"); "—" where either side is missing. */
export function signed(value: number | null | undefined, digits: number): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const rounded = Number(value.toFixed(digits));
  return rounded < 0 ? rounded.toFixed(digits) : `+${Math.abs(rounded).toFixed(digits)}`;
}
