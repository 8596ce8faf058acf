import { chunkedPartials, type Region } from '../kernels/simd-arena.js';
import { pad4 } from '../kernels/simd-gemm.js';
import type { PatchMoeSpec } from '../models/wrn-layers.js';
import { gateGradient, topL, writeGates, type ScoreColumn, type Selection } from '../routing/expert-choice-core.js';
import type { MapBuffer, StepMemory, WeightEntry } from './fused-wrn-memory.js';

const FLOAT_BYTES = 4;

/**
 * The routers of a patch-level MoE in the fused image trainer (both formulations):
 *   scores g = patches(x) R      one product over the batch's B n patches, R [ph pw C, k] (padded to kp columns)
 *   J_s = top-l of g_{., s}, G   routing/expert-choice-core.ts (ties to the lower patch index), per image and expert
 * and back: the gates' gradient dG (filled by the experts) to the scores (gateGradient), dR =
 * patches^T dg, and dx = dg R^T. A patch's row py is pw C contiguous floats of x, so the product
 * reads each patch as ph segments (gemmSeg) in place. The same kernel and sums as the wasm
 * backend's router product: the same scores, so the same routing.
 */
export class PatchRouter {
  readonly router: WeightEntry;
  readonly k: number;
  readonly kp: number;
  /** Patches at the capacity, padded to 4: the tables' stride. */
  private readonly patchRows: number;
  /** Per patch row py: that row's address in every patch of x (a zero row past the capacity). */
  private readonly routerRows: Region;
  private readonly scores: Region;
  private readonly scoreRows: Region;
  private readonly dScores: Region;
  private readonly dScoreRows: Region;
  /** Per patch row py: where that row of every patch goes in dx. */
  private readonly dxRows: Region;
  /** R^T per patch row py: [kp, pw C]. */
  private readonly routerT: Region;
  /** The last forward pass's routing [B, k, l]: chosen patches (row-major on the grid) and gates; for softmax-all each column's log-sum-exp. */
  readonly chosen: Int32Array;
  readonly gates: Float32Array;
  private readonly logSumExp: Float64Array;
  /** dL/dG [B, k, l], filled by the experts before backward(). */
  readonly dGates: Float32Array;

  constructor(
    private readonly memory: StepMemory,
    readonly spec: PatchMoeSpec,
    private readonly x: MapBuffer,
  ) {
    const { arena, capacity } = memory;
    const { experts: k, patchesPerExpert: l } = spec;
    const { height: ph, width: pw } = spec.patch;
    const channels = x.channels;
    if (channels % 4 !== 0) throw new Error(`fused image trainer: ${spec.name} needs channels in multiples of 4 (has ${channels})`);
    this.k = k;
    this.kp = pad4(k);
    this.patchRows = pad4(capacity * spec.patches);
    this.router = memory.addWeight(`${spec.name}/router/kernel`, [ph * pw * channels, k], this.kp);
    this.routerRows = arena.alloc(ph * this.patchRows);
    this.scores = arena.alloc(this.patchRows * this.kp);
    this.scoreRows = arena.alloc(this.patchRows);
    this.dScores = arena.alloc(this.patchRows * this.kp);
    this.dScoreRows = arena.alloc(this.patchRows);
    this.dxRows = arena.alloc(ph * this.patchRows);
    this.routerT = arena.alloc(ph * this.kp * pw * channels);
    this.chosen = new Int32Array(capacity * k * l);
    this.gates = new Float32Array(capacity * k * l);
    this.logSumExp = new Float64Array(capacity * k);
    this.dGates = new Float32Array(capacity * k * l);
    memory.need('row', Math.max(pw * channels, this.kp));
    memory.need('partials', chunkedPartials(pw * channels, this.kp, capacity * spec.patches));
  }

  /** Whether the gates pass a gradient to the routers (not hard gates). */
  get routed(): boolean {
    return this.spec.gate !== 'hard';
  }

  /** The top-left pixel ((b H + y) W + x) of patch j of image b. */
  patchOrigin(b: number, j: number): number {
    const { patch, grid } = this.spec;
    return (b * this.x.height + Math.floor(j / grid.cols) * patch.height) * this.x.width + (j % grid.cols) * patch.width;
  }

  prepare(): void {
    const { memory, spec, x, patchRows, kp } = this;
    const { arena, capacity, zeroRow, scratchRow } = memory;
    const routerRows = arena.ints(this.routerRows);
    const [scoreRows, dScoreRows] = [arena.ints(this.scoreRows), arena.ints(this.dScoreRows)];
    const patches = capacity * spec.patches;
    for (let i = 0; i < patchRows; i++) {
      const origin = i < patches ? this.patchOrigin(Math.floor(i / spec.patches), i % spec.patches) : 0;
      for (let py = 0; py < spec.patch.height; py++) {
        routerRows[py * patchRows + i] = i < patches ? x.value.ptr + (origin + py * x.width) * x.channels * FLOAT_BYTES : zeroRow;
      }
      scoreRows[i] = i < patches ? this.scores.ptr + i * kp * FLOAT_BYTES : scratchRow;
      dScoreRows[i] = this.dScores.ptr + i * kp * FLOAT_BYTES;
    }
  }

  /** Scores, each expert's top l patches of each image and their gates (chosen, gates). */
  route(batch: number): void {
    const { memory, spec, x, k, kp, patchRows } = this;
    const { arena, zeroRow } = memory;
    const { patchesPerExpert: l, gate, patches: n } = spec;
    const { height: ph, width: pw } = spec.patch;
    arena.gemmSeg(pad4(batch * n), kp, pw * x.channels, ph, this.routerRows.ptr, patchRows, memory.weightPtr(this.router), this.scoreRows.ptr, zeroRow);
    const column: ScoreColumn = { values: arena.floats(this.scores), base: 0, step: kp, n };
    const selection: Selection = { chosen: this.chosen, gates: this.gates, at: 0, l };
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < k; s++) {
        column.base = b * n * kp + s;
        selection.at = (b * k + s) * l;
        topL(column, selection);
        this.logSumExp[b * k + s] = writeGates(gate, column, selection);
      }
    }
  }

  /** From dGates: the scores' gradient and the router's (nothing for hard gates). */
  backward(batch: number): void {
    if (!this.routed) return;
    const { memory, spec, x, k, kp, patchRows } = this;
    const { arena, partials } = memory;
    const { patchesPerExpert: l, gate, patches: n } = spec;
    const { height: ph, width: pw } = spec.patch;
    const width = pw * x.channels;
    const column: ScoreColumn = { values: arena.floats(this.scores), base: 0, step: kp, n };
    const selection: Selection = { chosen: this.chosen, gates: this.gates, at: 0, l };
    const dScores = arena.floats(this.dScores);
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < k; s++) {
        column.base = b * n * kp + s;
        selection.at = (b * k + s) * l;
        gateGradient(gate, column, selection, this.dGates, dScores, this.logSumExp[b * k + s]);
      }
    }
    const dRouter = memory.gradPtr(this.router);
    for (let py = 0; py < ph; py++) {
      arena.gemmTChunked(width, kp, batch * n, this.routerRows.ptr + 4 * py * patchRows, this.dScores.ptr, dRouter + py * width * kp * FLOAT_BYTES, partials);
    }
  }

  /** Writes dx = dg R^T at `target` (every pixel lies in one patch, so all of dx), or zeros for hard gates. */
  writeInputGradient(batch: number, target: number): void {
    const { memory, spec, x, kp, patchRows } = this;
    const { arena, zeroRow, scratchRow } = memory;
    const n = spec.patches;
    if (!this.routed) {
      new Float32Array(arena.floats(x.value).buffer, target, batch * x.positions * x.channels).fill(0);
      return;
    }
    const { height: ph, width: pw } = spec.patch;
    const width = pw * x.channels;
    const routerT = arena.floats(this.routerT);
    const router = memory.weightValues(this.router);
    for (let py = 0, at = 0; py < ph; py++) for (let s = 0; s < kp; s++) for (let j = 0; j < width; j++) routerT[at++] = router[(py * width + j) * kp + s];
    const [dxRows, routerRows] = [arena.ints(this.dxRows), arena.ints(this.routerRows)];
    for (let py = 0; py < ph; py++) {
      for (let i = 0; i < patchRows; i++) dxRows[py * patchRows + i] = i < batch * n ? routerRows[py * patchRows + i] - x.value.ptr + target : scratchRow;
    }
    for (let py = 0; py < ph; py++) {
      const rT = this.routerT.ptr + py * kp * width * FLOAT_BYTES;
      arena.gemmSeg(pad4(batch * n), width, kp, 1, this.dScoreRows.ptr, patchRows, rT, this.dxRows.ptr + 4 * py * patchRows, zeroRow);
    }
  }
}
