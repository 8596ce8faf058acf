/**
 * Routing pictures as SVG text: which patches each expert of a pMoE takes from one image, with
 * their gate values. Pure string building, no DOM and no Node API, so the HTML report (Node) and
 * the interactive page (browser bundle) draw the same pictures from the same code.
 *
 * Elements carry classes and data attributes for stylesheets and tests:
 * `rect.expert-outline[data-expert][data-cell][data-gate]`, `rect.discriminative[data-cell]`,
 * `rect.cell[data-cell]` (click targets, when asked for), `text.gate[data-expert][data-cell]`.
 */

/** Tableau 10 first (the report's series colours), then more hues for k > 10. */
const BASE_COLOURS = ['#4c78a8', '#e45756', '#54a24b', '#f58518', '#b279a2', '#72b7b2', '#eeca3b', '#ff9da6', '#9d755d', '#bab0ac'];

export function expertColour(expert: number): string {
  if (expert < BASE_COLOURS.length) return BASE_COLOURS[expert];
  return `hsl(${Math.round((expert * 137.508) % 360)}, 65%, 55%)`;
}

/** One image's routing: expert s took cells indices[s * l + t] with gates gates[s * l + t]. */
export interface ImageRouting {
  /** Cells per side; patch j is cell j in row-major order. */
  readonly gridSize: number;
  /** Pixels per cell side in the image (28 for MNIST digits). */
  readonly cellPixels: number;
  readonly experts: number;
  readonly patchesPerExpert: number;
  /** [k * l], highest score first within each expert. */
  readonly indices: ArrayLike<number>;
  /** [k * l], in the order of `indices`. */
  readonly gates: ArrayLike<number>;
  /** Cells holding a class-discriminative digit (one for a data-set image; any number for a composed one). */
  readonly discriminativeCells?: readonly number[];
}

export interface PictureOptions {
  /** The image, e.g. a PNG data URL; drawn under the outlines. */
  readonly imageHref: string;
  /** Screen pixels per image pixel. */
  readonly scale?: number;
  /** Prefix of the ids inside the SVG; must be unique in the page. */
  readonly idPrefix: string;
}

const fmt = (value: number) => (Number.isInteger(value) ? String(value) : value.toFixed(2).replace(/\.?0+$/, ''));

/** A gate as printed on the pictures: two decimals, "1" for a hard gate. */
export function gateText(gate: number): string {
  if (gate >= 0.995) return '1';
  return gate.toFixed(2).replace(/^0(?=\.)/, '');
}

const escapeAttribute = (text: string) => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const safeId = (text: string) => text.replace(/[^\w-]/g, '_');

/** For each cell, the experts that took it, in expert order, with the gate. */
export function takersByCell(routing: ImageRouting): { expert: number; gate: number; rank: number }[][] {
  const n = routing.gridSize * routing.gridSize;
  const cells: { expert: number; gate: number; rank: number }[][] = Array.from({ length: n }, () => []);
  const l = routing.patchesPerExpert;
  for (let s = 0; s < routing.experts; s++) {
    for (let t = 0; t < l; t++) {
      const cell = routing.indices[s * l + t];
      if (cell >= 0 && cell < n) cells[cell].push({ expert: s, gate: routing.gates[s * l + t], rank: t });
    }
  }
  return cells;
}

function cellOrigin(routing: ImageRouting, cell: number, size: number): { x: number; y: number } {
  return { x: (cell % routing.gridSize) * size, y: Math.floor(cell / routing.gridSize) * size };
}

function discriminativeMarks(routing: ImageRouting, size: number, x0: number, y0: number): string {
  return (routing.discriminativeCells ?? [])
    .map((cell) => {
      const { x, y } = cellOrigin(routing, cell, size);
      return `<rect class="discriminative" data-cell="${cell}" x="${fmt(x0 + x + 1)}" y="${fmt(y0 + y + 1)}" width="${fmt(size - 2)}" height="${fmt(size - 2)}" fill="none" stroke="#fff" stroke-width="1.5" stroke-dasharray="4 3"><title>discriminative patch (cell ${cell})</title></rect>`;
    })
    .join('');
}

/**
 * The image with every expert's chosen cells outlined in the expert's colour; a cell taken by
 * several experts gets nested outlines. Discriminative cells are marked dashed white. With
 * `clickableCells`, transparent `rect.cell` targets lie on top.
 */
export function routingOverviewSvg(routing: ImageRouting, options: PictureOptions & { readonly clickableCells?: boolean }): string {
  const scale = options.scale ?? 2;
  const size = routing.cellPixels * scale;
  const side = routing.gridSize * size;
  const takers = takersByCell(routing);
  const inset = Math.max(2, Math.min(4, size / (2.5 * Math.max(1, routing.experts))));
  const outlines = takers
    .flatMap((list, cell) =>
      list.map((taker, nest) => {
        const { x, y } = cellOrigin(routing, cell, size);
        const d = 1.5 + nest * inset;
        return (
          `<rect class="expert-outline" data-expert="${taker.expert}" data-cell="${cell}" data-gate="${taker.gate.toFixed(4)}" ` +
          `x="${fmt(x + d)}" y="${fmt(y + d)}" width="${fmt(size - 2 * d)}" height="${fmt(size - 2 * d)}" fill="none" stroke="${expertColour(taker.expert)}" stroke-width="2">` +
          `<title>expert ${taker.expert + 1}, cell ${cell}, gate ${gateText(taker.gate)}</title></rect>`
        );
      }),
    )
    .join('');
  const targets = options.clickableCells
    ? Array.from({ length: routing.gridSize * routing.gridSize }, (_, cell) => {
        const { x, y } = cellOrigin(routing, cell, size);
        const who = takers[cell].map((t) => `expert ${t.expert + 1} (${gateText(t.gate)})`).join(', ') || 'no expert';
        return `<rect class="cell" data-cell="${cell}" x="${fmt(x)}" y="${fmt(y)}" width="${fmt(size)}" height="${fmt(size)}" fill="transparent"><title>cell ${cell}: ${who}</title></rect>`;
      }).join('')
    : '';
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="routing-overview" id="${safeId(options.idPrefix)}-overview" width="${fmt(side)}" height="${fmt(side)}" viewBox="0 0 ${fmt(side)} ${fmt(side)}" role="img" aria-label="image with each expert's patches outlined">` +
    `<image href="${escapeAttribute(options.imageHref)}" x="0" y="0" width="${fmt(side)}" height="${fmt(side)}" style="image-rendering: pixelated" preserveAspectRatio="none"/>` +
    discriminativeMarks(routing, size, 0, 0) +
    outlines +
    targets +
    `</svg>`
  );
}

/**
 * One small copy of the image per expert, showing only that expert's l cells, outlined in its
 * colour and labelled with their gate values; under each, the gate mass the expert puts on the
 * discriminative cells.
 */
export function expertPanelsSvg(routing: ImageRouting, options: PictureOptions & { readonly columns?: number }): string {
  const scale = options.scale ?? 1;
  const size = routing.cellPixels * scale;
  const side = routing.gridSize * size;
  const k = routing.experts;
  const l = routing.patchesPerExpert;
  const columns = Math.max(1, Math.min(k, options.columns ?? k));
  const rows = Math.ceil(k / columns);
  const gap = 10;
  const title = 16;
  const footer = 14;
  const panelW = side + gap;
  const panelH = title + side + footer + gap;
  const width = columns * panelW - gap;
  const height = rows * panelH - gap;
  const id = safeId(options.idPrefix);
  const fontSize = Math.max(8, Math.min(12, size * 0.34));
  const discriminative = new Set(routing.discriminativeCells ?? []);
  const panels: string[] = [];
  for (let s = 0; s < k; s++) {
    const x0 = (s % columns) * panelW;
    const y0 = Math.floor(s / columns) * panelH;
    const colour = expertColour(s);
    let onDiscriminative = 0;
    const cells: string[] = [];
    for (let t = 0; t < l; t++) {
      const cell = routing.indices[s * l + t];
      const gate = routing.gates[s * l + t];
      if (discriminative.has(cell)) onDiscriminative += gate;
      const { x, y } = cellOrigin(routing, cell, size);
      const cx = x0 + x;
      const cy = y0 + title + y;
      cells.push(
        `<rect class="expert-outline" data-expert="${s}" data-cell="${cell}" data-gate="${gate.toFixed(4)}" x="${fmt(cx + 1)}" y="${fmt(cy + 1)}" width="${fmt(size - 2)}" height="${fmt(size - 2)}" fill="${colour}" fill-opacity="0.18" stroke="${colour}" stroke-width="2"><title>expert ${s + 1}, cell ${cell}, gate ${gateText(gate)}</title></rect>` +
          `<text class="gate" data-expert="${s}" data-cell="${cell}" x="${fmt(cx + size / 2)}" y="${fmt(cy + size - 3)}" text-anchor="middle" font-size="${fmt(fontSize)}" font-family="sans-serif" font-weight="bold" fill="#fff" stroke="#000" stroke-width="2.5" paint-order="stroke">${gateText(gate)}</text>`,
      );
    }
    panels.push(
      `<g class="expert-panel" data-expert="${s}">` +
        `<text x="${fmt(x0)}" y="${fmt(y0 + 12)}" font-size="12" font-family="sans-serif" fill="${colour}" font-weight="bold">expert ${s + 1}</text>` +
        `<use href="#${id}-image" x="${fmt(x0)}" y="${fmt(y0 + title)}" opacity="0.6"/>` +
        `<rect x="${fmt(x0 + 0.5)}" y="${fmt(y0 + title + 0.5)}" width="${fmt(side - 1)}" height="${fmt(side - 1)}" fill="none" stroke="#999" stroke-width="1"/>` +
        discriminativeMarks(routing, size, x0, y0 + title) +
        cells.join('') +
        `<text class="discriminative-gate" x="${fmt(x0)}" y="${fmt(y0 + title + side + 12)}" font-size="10" font-family="sans-serif" fill="#444">gate on discr.: ${gateText(onDiscriminative)}</text>` +
        `</g>`,
    );
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="routing-experts" id="${id}-experts" width="${fmt(width)}" height="${fmt(height)}" viewBox="0 0 ${fmt(width)} ${fmt(height)}" role="img" aria-label="each expert's patches with gate values">` +
    `<defs><image id="${id}-image" href="${escapeAttribute(options.imageHref)}" width="${fmt(side)}" height="${fmt(side)}" style="image-rendering: pixelated" preserveAspectRatio="none"/></defs>` +
    panels.join('') +
    `</svg>`
  );
}

/** Colour swatches naming the experts, as HTML. */
export function expertLegendHtml(experts: number): string {
  const items = Array.from(
    { length: experts },
    (_, s) => `<span class="legend-item"><span class="swatch" style="border-color:${expertColour(s)}"></span>expert ${s + 1}</span>`,
  );
  return `<div class="expert-legend">${items.join('')}<span class="legend-item"><span class="swatch discriminative-swatch"></span>discriminative patch</span></div>`;
}
