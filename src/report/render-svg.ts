import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface RenderedSvg {
  readonly svg: string;
  /** What Vega-Lite warned about while compiling (kept, not printed, so a report run stays quiet). */
  readonly warnings: readonly string[];
}

/** Compiles a Vega-Lite spec and renders it headless to SVG (no canvas or browser needed). */
export async function renderSvg(spec: TopLevelSpec): Promise<RenderedSvg> {
  const warnings: string[] = [];
  const collect = (...messages: readonly unknown[]) => {
    warnings.push(messages.map(String).join(' '));
  };
  const logger = vega.logger(vega.Warn);
  logger.warn = (...messages: readonly unknown[]) => {
    collect(...messages);
    return logger;
  };
  const { spec: vegaSpec } = compile(spec, { logger });
  const view = new vega.View(vega.parse(vegaSpec), { renderer: 'none', logger });
  try {
    const svg = await view.toSVG();
    return { svg, warnings };
  } finally {
    view.finalize();
  }
}
