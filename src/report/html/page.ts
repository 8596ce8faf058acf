/**
 * `<outDir>/index.html`: one self-contained page per `pmoe report` run. It holds every experiment's
 * figure (its Vega-Lite spec, drawn in the page by vega-embed) and its Markdown rendered as HTML,
 * and, given a trained model, the routing pictures. Vega, Vega-Lite and vega-embed are inlined, so
 * the page works offline and from file:// and fetches nothing.
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeFileAtomically } from '../../util/atomic-write.js';
import { OutputFileError } from '../../util/output-file.js';
import { reportFileProblem } from '../report-files.js';
import type { ReportSummary } from '../report.js';
import { inlineJson, inlineScriptText, vendorScripts } from './vendor.js';
import { escapeHtml, markdownToHtmlInTurns } from './markdown-html.js';
import type { RoutingSection } from './routing-section.js';
import type { TrainingCurvesSection } from './training-curves.js';

export const HTML_REPORT_FILE = 'index.html';

export interface HtmlReportOptions {
  /** The routing pictures of a trained model (routing-section.ts), drawn before any file is written. */
  readonly routing?: RoutingSection;
  /** Training curves from per-epoch logs (training-curves.ts), read before any file is written. */
  readonly curves?: TrainingCurvesSection;
  /** The command line that remakes this page. */
  readonly regenerate?: string;
  readonly generatedAt?: Date;
  readonly title?: string;
}

/** One experiment's part of the page, from the files `writeReport` wrote. */
interface ExperimentPart {
  readonly id: string;
  readonly name: string;
  readonly html: string;
  readonly spec: unknown;
}

const FIGURE_TOKEN = 'PMOEFIGUREPLACEHOLDER';

async function experimentPart(experiment: ReportSummary['experiments'][number], index: number): Promise<ExperimentPart> {
  const [markdown, specText] = await Promise.all([readFile(experiment.files.markdown, 'utf8'), readFile(experiment.files.vegaLite, 'utf8')]);
  const svgName = basename(experiment.files.svg);
  const id = `experiment-${index}`;
  // The Markdown's image of the SVG figure becomes a placeholder that vega-embed draws into.
  const imageLine = new RegExp(`^!\\[[^\\n]*\\]\\(${svgName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)$`, 'm');
  // Without that image line, the figure goes right under the title.
  const withToken = imageLine.test(markdown) ? markdown.replace(imageLine, FIGURE_TOKEN) : markdown.replace(/^(.*)\n/, `$1\n\n${FIGURE_TOKEN}\n`);
  const figure =
    `<figure class="experiment-figure"><div class="vega-figure" id="figure-${index}" data-vega-spec="spec-${index}" role="img" aria-label="${escapeHtml(experiment.experiment)} figure"></div>` +
    `<noscript><img src="${escapeHtml(encodeURIComponent(svgName))}" alt="${escapeHtml(experiment.experiment)} figure"></noscript></figure>`;
  // Long tables scroll in place, so a figure is never far from the next one.
  const html = (await markdownToHtmlInTurns(withToken))
    .replace(`<p>${FIGURE_TOKEN}</p>`, figure)
    .replace(/<table>/g, '<div class="table-wrap"><table>')
    .replace(/<\/table>/g, '</table></div>');
  return { id, name: experiment.experiment, html, spec: JSON.parse(specText) };
}

const STYLE = `
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 0; color: #1d1d1f; background: #f6f6f4; }
header.page { background: #23313f; color: #fff; padding: 18px 32px; }
header.page h1 { margin: 0 0 4px; font-size: 24px; }
header.page p { margin: 2px 0; color: #d4dbe2; font-size: 13px; }
header.page code { color: #fff; background: rgba(255, 255, 255, 0.14); }
nav.toc { padding: 8px 32px; background: #fff; border-bottom: 1px solid #ddd; font-size: 14px; position: sticky; top: 0; z-index: 2; }
nav.toc a { margin-right: 16px; color: #2a5d8f; text-decoration: none; }
main { padding: 8px 32px 48px; max-width: 1400px; }
section { background: #fff; border: 1px solid #e2e2e2; border-radius: 8px; padding: 8px 24px 16px; margin: 20px 0; }
h2 { font-size: 20px; border-bottom: 1px solid #eee; padding-bottom: 4px; }
h3 { font-size: 16px; margin-top: 22px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 3px 9px; }
th { background: #f0f2f4; text-align: left; }
tbody tr:nth-child(even) { background: #fafafa; }
code { background: #f2f2f2; border-radius: 3px; padding: 0 3px; font-size: 12.5px; }
details summary { cursor: pointer; color: #2a5d8f; }
figure { margin: 12px 0; }
.vega-figure { min-height: 60px; }
.vega-figure.failed { color: #b00020; }
.routing-image { border-top: 1px solid #eee; padding-top: 8px; }
.routing-image figcaption { font-size: 13px; margin-bottom: 6px; }
.routing-pictures { display: flex; gap: 20px; align-items: flex-start; }
.table-wrap { max-height: 360px; overflow: auto; display: inline-block; border-bottom: 1px solid #eee; }
.table-wrap table { margin: 0; }
.table-wrap thead th { position: sticky; top: 0; }
.routing-overview { background: #000; }
.expert-legend { display: flex; flex-wrap: wrap; gap: 6px 14px; font-size: 13px; margin: 6px 0 10px; }
.legend-item { display: inline-flex; align-items: center; gap: 5px; }
.swatch { display: inline-block; width: 12px; height: 12px; border: 3px solid; border-radius: 2px; margin-right: 4px; vertical-align: middle; }
.discriminative-swatch { border: 2px dashed #666; background: #000; }
.ok { color: #1b7f3b; font-weight: 600; }
.wrong { color: #b00020; font-weight: 600; }
.model-summary { font-size: 14px; }
`;

/** Draws every `[data-vega-spec]` placeholder; errors show in place and on the console. */
const EMBED_SCRIPT = `
(async function () {
  var targets = Array.prototype.slice.call(document.querySelectorAll('[data-vega-spec]'));
  var drawn = 0;
  for (var i = 0; i < targets.length; i++) {
    var el = targets[i];
    try {
      var spec = JSON.parse(document.getElementById(el.getAttribute('data-vega-spec')).textContent);
      await vegaEmbed(el, spec, { actions: false, renderer: 'svg' });
      el.setAttribute('data-rendered', 'true');
      drawn++;
    } catch (error) {
      el.classList.add('failed');
      el.textContent = 'This figure could not be drawn: ' + (error && error.message ? error.message : String(error));
      console.error('pmoe report: figure ' + el.id + ' failed', error);
    }
  }
  document.body.setAttribute('data-figures-drawn', String(drawn));
  document.body.setAttribute('data-ready', 'true');
})();
`;

/** The page's HTML from the report's summary (its files are read back) and, optionally, a routing model. */
export async function renderHtmlReport(summary: ReportSummary, options: HtmlReportOptions = {}): Promise<string> {
  // One after the other, the event loop turning between them (a Ctrl-C is handled at once).
  const parts: ExperimentPart[] = [];
  for (const [i, experiment] of summary.experiments.entries()) parts.push(await experimentPart(experiment, i));
  const { routing, curves } = options;
  const vendors = await vendorScripts();
  const specs = [...parts.map((part, i) => ({ id: `spec-${i}`, spec: part.spec })), ...(routing?.specs ?? []), ...(curves?.specs ?? [])];
  const title = options.title ?? `pmoe report: ${summary.experiments.map((e) => e.experiment).join(', ') || 'no experiments'}`;
  const generatedAt = (options.generatedAt ?? new Date()).toISOString();
  const toc = [
    ...parts.map((part) => `<a href="#${part.id}">${escapeHtml(part.name)}</a>`),
    ...(routing ? ['<a href="#routing">routing</a>'] : []),
    ...(curves ? ['<a href="#training-curves">training curves</a>'] : []),
  ].join('');
  const sources = summary.inputs.map((input) => `<code>${escapeHtml(input.path)}</code> (${input.lines} lines)`).join(', ');
  const warnings =
    summary.warnings.length === 0
      ? ''
      : `<section class="warnings"><h2>Warnings</h2><ul>${summary.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul></section>`;
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    ...vendors.map((v) => `<script data-library="${v.name}" data-version="${v.version}">${inlineScriptText(v.code)}</script>`),
    '</head>',
    '<body>',
    '<header class="page">',
    `<h1>${escapeHtml(title)}</h1>`,
    `<p>Generated by <code>pmoe report</code> at ${escapeHtml(generatedAt)} from ${sources}.</p>`,
    ...(options.regenerate ? [`<p>How to regenerate: <code>${escapeHtml(options.regenerate)}</code></p>`] : []),
    `<p>Figures drawn with Vega ${escapeHtml(vendors[0].version)} / Vega-Lite ${escapeHtml(vendors[1].version)}, inlined: this page needs no network.</p>`,
    '</header>',
    `<nav class="toc">${toc}</nav>`,
    '<main>',
    warnings,
    ...parts.map((part) => `<section id="${part.id}" class="experiment" data-experiment="${escapeHtml(part.name)}">\n${part.html}\n</section>`),
    routing?.html ?? '',
    curves?.html ?? '',
    '</main>',
    ...specs.map((s) => `<script type="application/json" id="${s.id}">${inlineJson(s.spec)}</script>`),
    `<script>${EMBED_SCRIPT}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** Writes `<summary.outDir>/index.html` atomically and returns its path. */
export async function writeHtmlReport(summary: ReportSummary, options: HtmlReportOptions = {}): Promise<string> {
  const html = await renderHtmlReport(summary, options);
  const path = join(summary.outDir, HTML_REPORT_FILE);
  const problem = reportFileProblem(path);
  if (problem) throw new OutputFileError(path, problem);
  await writeFileAtomically(path, html);
  return path;
}
