/**
 * What a report may replace in its folder: a file it wrote itself, recognised by a mark its first
 * part always holds, or an empty one (util/output-file.ts replaceableFileProblem). A file of another
 * kind there (a README.md beside the reports, a package.json where --out is a project) is never
 * replaced, whatever the experiment names in the results files (an experiment called `README`
 * would otherwise write README.md).
 */
import { outputFileProblem, replaceableFileProblem } from '../util/output-file.js';

/** The mark of each kind of file, by the end of its name (the longest first). */
const MARKS: readonly (readonly [string, string])[] = [
  ['.vl.json', '"$schema": "https://vega.github.io/schema/vega-lite/'],
  ['.json', '"regenerate": "pmoe '],
  ['.md', 'How to regenerate: `pmoe '],
  ['.svg', 'class="marks"'],
  // Before the page's inlined scripts.
  ['.html', 'data-library="vega"'],
];

/** Why the report may not write `path` (a special file, or an existing file it did not write), or undefined. */
export function reportFileProblem(path: string): string | undefined {
  const mark = MARKS.find(([ending]) => path.endsWith(ending))?.[1];
  return mark === undefined ? outputFileProblem(path) : replaceableFileProblem(path, mark, 'pmoe report');
}
