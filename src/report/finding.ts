/** A statement an experiment's report derives from its own numbers: words for the Markdown, data for the JSON. */
export interface Finding {
  readonly title: string;
  readonly markdown: string;
  readonly data: unknown;
}
