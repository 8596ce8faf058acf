/**
 * The shapes the patch-level MoE kernels share (the paper's symbols: n patches, k experts, l patches
 * per expert). The map z [batch, H, W, C] is cut into n = rows cols patches of ph x pw pixels,
 * numbered row-major; a patch's values are its pixels row-major, channels last (ph pw C of them, the
 * router's rows). Expert s takes l patches of each image; the l-th slot of (image b, expert s) is row
 * b l + t of the expert's gathered mini-images G[s] [batch l, ph, pw, C].
 */
import { checkSizes, u32 } from './kernel.js';

/** How an expert weights its patches (the meaning: src/routing/gate.ts). */
export type GateKind = 'softmax-selected' | 'softmax-all' | 'hard';

export interface PatchMoeShape {
  readonly batch: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly patchHeight: number;
  readonly patchWidth: number;
  /** k. */
  readonly experts: number;
  /** l. */
  readonly patchesPerExpert: number;
  readonly filtersPerExpert: number;
  readonly gate: GateKind;
}

export interface PatchMoeGeometry extends PatchMoeShape {
  readonly gridRows: number;
  readonly gridCols: number;
  /** n. */
  readonly patches: number;
  /** ph pw. */
  readonly pixels: number;
  /** ph pw C: the router's rows. */
  readonly patchValues: number;
  /** batch l: rows of each expert's gathered mini-images. */
  readonly slots: number;
}

export function patchMoeGeometry(shape: PatchMoeShape): PatchMoeGeometry {
  checkSizes('patch-moe', {
    batch: shape.batch,
    height: shape.height,
    width: shape.width,
    channels: shape.channels,
    patchHeight: shape.patchHeight,
    patchWidth: shape.patchWidth,
    experts: shape.experts,
    patchesPerExpert: shape.patchesPerExpert,
    filtersPerExpert: shape.filtersPerExpert,
  });
  if (shape.height % shape.patchHeight !== 0 || shape.width % shape.patchWidth !== 0) {
    throw new RangeError(`patch-moe: ${shape.patchHeight}x${shape.patchWidth} patches do not tile a ${shape.height}x${shape.width} map`);
  }
  const gridRows = shape.height / shape.patchHeight;
  const gridCols = shape.width / shape.patchWidth;
  const patches = gridRows * gridCols;
  if (shape.patchesPerExpert > patches) throw new RangeError(`patch-moe: l = ${shape.patchesPerExpert} exceeds the ${patches} patches`);
  const pixels = shape.patchHeight * shape.patchWidth;
  return { ...shape, gridRows, gridCols, patches, pixels, patchValues: pixels * shape.channels, slots: shape.batch * shape.patchesPerExpert };
}

/** WGSL constants of the geometry and `fn patchPixel(b, j, q) -> u32`: the map pixel of pixel q (row-major) of patch j of image b. */
export function patchConstants(g: PatchMoeGeometry): string {
  return `const B = ${u32(g.batch)};
const H = ${u32(g.height)};
const W = ${u32(g.width)};
const C = ${u32(g.channels)};
const PH = ${u32(g.patchHeight)};
const PW = ${u32(g.patchWidth)};
const GRID_COLS = ${u32(g.gridCols)};
const NP = ${u32(g.patches)};
const PIXELS = ${u32(g.pixels)};
const D = ${u32(g.patchValues)};
const K = ${u32(g.experts)};
const L = ${u32(g.patchesPerExpert)};
const F = ${u32(g.filtersPerExpert)};
fn patchPixel(b: u32, j: u32, q: u32) -> u32 {
  return (b * H + (j / GRID_COLS) * PH + q / PW) * W + (j % GRID_COLS) * PW + q % PW;
}`;
}
