import { chunkedPartials, type Region } from '../kernels/simd-arena.js';
import { pad4 } from '../kernels/simd-gemm.js';
import type { PatchMoeSpec } from '../models/wrn-layers.js';
import { gateGradient, topL, writeGates, type ScoreColumn, type Selection } from '../ops/expert-choice-core.js';
import type { MapBuffer, StepMemory, WeightEntry } from './fused-wrn-memory.js';

const FLOAT_BYTES = 4;

/** One expert's rows: the pixels of its B l chosen patches, row i = ((b l + t) ph + py) pw + px. */
interface ExpertBuffers {
  readonly kernel: WeightEntry;
  readonly bias: WeightEntry;
  /** taps segments of x addresses (a zero row outside the patch), then z's rows. */
  readonly table: Region;
  /** The ungated output z [rows, f] (its gradient's gate factor), and dz. */
  readonly z: Region;
  readonly dz: Region;
  readonly dzRows: Region;
  /** taps segments of dz addresses for the input gradient (the flipped kernel inside each patch), then dx's rows. */
  readonly gradTable: Region;
  /** This expert's part of dx, [rows, C], before it is added at its pixels. */
  readonly dx: Region;
  /** Per row: the gate of its patch (1 for hard gates); where its output goes (and its gradient comes from). */
  readonly gateRows: Region;
  readonly outRows: Region;
  readonly dOutRows: Region;
  /** W_t^T [f, C] per tap, packed for the input gradient. */
  readonly packed: Region;
  readonly biasSums: Region;
  /** Per row: the pixel of the map it is ((b H + y) W + x). */
  readonly pixels: Int32Array;
}

/**
 * The patch-level MoE of WRN-pMoE in the fused image trainer, formulation `sparse` (models/wrn-layers.ts):
 *   scores g = patches(x) R            one product over the batch's B n patches, R [ph pw C, k]
 *   J_s = top-l of g_{., s}, G = gates  ops/expert-choice-core.ts (ties to the lower patch index)
 *   z_s = conv_s(x at J_s) + b_s        inside each chosen patch, 'same' (zeros at its border)
 *   y = G z_s at the chosen patches' pixels, channels s f .. s f + f; zero elsewhere.
 * Backward: dz = G dy; dG = sum over the patch's pixels of z dy; dW_s, db_s, and dx through each
 * expert (the flipped kernel inside the patch, added at its pixels); for gates other than hard, dG
 * back to the scores (gateGradient), dR = patches^T dg and dx += dg R^T (written first: every pixel
 * lies in exactly one patch). The same kernels and tables as the wasm backend's ops, so the forward
 * pass gives the same floats and the same routing.
 */
export class SparsePatchMoe {
  readonly router: WeightEntry;
  private readonly experts: ExpertBuffers[] = [];
  private readonly k: number;
  private readonly kp: number;
  private readonly taps: number;
  private readonly pad: number;
  /** Patches at the capacity, padded to 4 (the router tables' stride); an expert's rows likewise. */
  private readonly patchRows: number;
  private readonly expertRows: number;
  /** Per patch row py: the addresses of that row of every patch of x (a zero row past the batch). */
  private readonly routerRows: Region;
  private readonly scores: Region;
  private readonly scoreRows: Region;
  private readonly dScores: Region;
  private readonly dScoreRows: Region;
  /** Per patch row py: where that row of every patch goes in dx. */
  private readonly dxRouterRows: Region;
  /** R^T per patch row py: [kp, pw C]. */
  private readonly routerT: Region;
  /** The last forward pass's routing [B, k, l] and, for softmax-all, each column's log-sum-exp. */
  readonly chosen: Int32Array;
  readonly gates: Float32Array;
  private readonly logSumExp: Float64Array;
  private readonly dGates: Float32Array;

  constructor(
    private readonly memory: StepMemory,
    readonly spec: PatchMoeSpec,
    private readonly x: MapBuffer,
    private readonly y: MapBuffer,
  ) {
    const { arena, capacity } = memory;
    const { experts: k, patchesPerExpert: l, filtersPerExpert: f, kernelSize, patches: n } = spec;
    const { height: ph, width: pw } = spec.patch;
    const channels = x.channels;
    if (channels % 4 !== 0 || f % 4 !== 0) {
      throw new Error(`fused image trainer: ${spec.name} needs channels and filters per expert in multiples of 4 (has ${channels} and ${f})`);
    }
    this.k = k;
    this.kp = pad4(k);
    this.taps = kernelSize * kernelSize;
    this.pad = Math.floor((kernelSize - 1) / 2);
    this.patchRows = pad4(capacity * n);
    this.expertRows = pad4(capacity * l * ph * pw);
    const patchValues = ph * pw * channels;
    this.router = memory.addWeight(`${spec.name}/router/kernel`, [patchValues, k], this.kp);
    this.routerRows = arena.alloc(ph * this.patchRows);
    this.scores = arena.alloc(this.patchRows * this.kp);
    this.scoreRows = arena.alloc(this.patchRows);
    this.dScores = arena.alloc(this.patchRows * this.kp);
    this.dScoreRows = arena.alloc(this.patchRows);
    this.dxRouterRows = arena.alloc(ph * this.patchRows);
    this.routerT = arena.alloc(ph * this.kp * pw * channels);
    const rows = this.expertRows;
    for (let s = 0; s < k; s++) {
      this.experts.push({
        kernel: memory.addWeight(`${spec.name}/expert${s}/kernel`, [kernelSize, kernelSize, channels, f]),
        bias: memory.addWeight(`${spec.name}/expert${s}/bias`, [f]),
        table: arena.alloc((this.taps + 1) * rows),
        z: arena.alloc(rows * f),
        dz: arena.alloc(rows * f),
        dzRows: arena.alloc(rows),
        gradTable: arena.alloc((this.taps + 1) * rows),
        dx: arena.alloc(rows * channels),
        gateRows: arena.alloc(rows),
        outRows: arena.alloc(rows),
        dOutRows: arena.alloc(rows),
        packed: arena.alloc(this.taps * f * channels),
        biasSums: arena.alloc(2 * f),
        pixels: new Int32Array(rows),
      });
    }
    this.chosen = new Int32Array(capacity * k * l);
    this.gates = new Float32Array(capacity * k * l);
    this.logSumExp = new Float64Array(capacity * k);
    this.dGates = new Float32Array(capacity * k * l);
    memory.need('row', Math.max(pw * channels, this.kp));
    memory.need('partials', Math.max(chunkedPartials(channels, f, capacity * l * ph * pw), chunkedPartials(pw * channels, this.kp, capacity * n)));
  }

  /** The tables that do not depend on the routing. */
  prepare(): void {
    const { memory, spec, x, patchRows, expertRows: rows, taps, pad } = this;
    const { arena, capacity, zeroRow, scratchRow } = memory;
    const { height: ph, width: pw } = spec.patch;
    const { cols } = spec.grid;
    const channels = x.channels;
    const routerRows = arena.ints(this.routerRows);
    const [scoreRows, dScoreRows] = [arena.ints(this.scoreRows), arena.ints(this.dScoreRows)];
    const patches = capacity * spec.patches;
    for (let i = 0; i < patchRows; i++) {
      const [b, j] = [Math.floor(i / spec.patches), i % spec.patches];
      for (let py = 0; py < ph; py++) {
        const pixel = (b * x.height + Math.floor(j / cols) * ph + py) * x.width + (j % cols) * pw;
        routerRows[py * patchRows + i] = i < patches ? x.value.ptr + pixel * channels * FLOAT_BYTES : zeroRow;
      }
      scoreRows[i] = i < patches ? this.scores.ptr + i * this.kp * FLOAT_BYTES : scratchRow;
      dScoreRows[i] = this.dScores.ptr + i * this.kp * FLOAT_BYTES;
    }
    const { filtersPerExpert: f, kernelSize } = spec;
    const used = capacity * spec.patchesPerExpert * ph * pw;
    for (const expert of this.experts) {
      const [table, gradTable, dzRows] = [arena.ints(expert.table), arena.ints(expert.gradTable), arena.ints(expert.dzRows)];
      for (let i = 0; i < rows; i++) {
        table[taps * rows + i] = expert.z.ptr + i * f * FLOAT_BYTES;
        dzRows[i] = expert.dz.ptr + i * f * FLOAT_BYTES;
        gradTable[taps * rows + i] = i < used ? expert.dx.ptr + i * channels * FLOAT_BYTES : scratchRow;
        const [patch, py, px] = [Math.floor(i / (ph * pw)), Math.floor((i % (ph * pw)) / pw), i % pw];
        for (let ty = 0, t = 0; ty < kernelSize; ty++) {
          for (let tx = 0; tx < kernelSize; tx++, t++) {
            // dx at (py, px) takes dz at (py - ty + pad, px - tx + pad) of the same patch.
            const [sy, sx] = [py - ty + pad, px - tx + pad];
            const inside = i < used && sy >= 0 && sy < ph && sx >= 0 && sx < pw;
            gradTable[t * rows + i] = inside ? expert.dz.ptr + ((patch * ph + sy) * pw + sx) * f * FLOAT_BYTES : zeroRow;
          }
        }
      }
    }
  }

  forward(batch: number): void {
    const { memory, spec, x, y, k, kp, patchRows, expertRows: rows, taps, pad } = this;
    const { arena, zeroRow } = memory;
    const { patchesPerExpert: l, filtersPerExpert: f, kernelSize, gate, patches: n } = spec;
    const { height: ph, width: pw } = spec.patch;
    const { cols } = spec.grid;
    const channels = x.channels;
    arena.gemmSeg(pad4(batch * n), kp, pw * channels, ph, this.routerRows.ptr, patchRows, memory.weightPtr(this.router), this.scoreRows.ptr, zeroRow);
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
    const outputs = arena.floats(y.value);
    outputs.fill(0, 0, batch * y.positions * y.channels);
    const used = batch * l * ph * pw;
    this.experts.forEach((expert, s) => {
      const table = arena.ints(expert.table);
      const [gateRows, outRows] = [arena.floats(expert.gateRows), arena.ints(expert.outRows)];
      for (let i = 0; i < rows; i++) {
        if (i >= used) {
          for (let t = 0; t < taps; t++) table[t * rows + i] = zeroRow;
          continue;
        }
        const [patch, py, px] = [Math.floor(i / (ph * pw)), Math.floor((i % (ph * pw)) / pw), i % pw];
        const [b, t] = [Math.floor(patch / l), patch % l];
        const at = (b * k + s) * l + t;
        const j = this.chosen[at];
        const [top, left] = [Math.floor(j / cols) * ph, (j % cols) * pw];
        const imageRow = b * x.height;
        for (let ty = 0, tap = 0; ty < kernelSize; ty++) {
          for (let tx = 0; tx < kernelSize; tx++, tap++) {
            const [sy, sx] = [py + ty - pad, px + tx - pad];
            const inside = sy >= 0 && sy < ph && sx >= 0 && sx < pw;
            table[tap * rows + i] = inside ? x.value.ptr + ((imageRow + top + sy) * x.width + left + sx) * channels * FLOAT_BYTES : zeroRow;
          }
        }
        const pixel = (imageRow + top + py) * x.width + left + px;
        expert.pixels[i] = pixel;
        outRows[i] = y.value.ptr + (pixel * y.channels + s * f) * FLOAT_BYTES;
        gateRows[i] = gate === 'hard' ? 1 : this.gates[at];
      }
      const t = expert.table.ptr;
      arena.gemmSeg(pad4(used), f, channels, taps, t, rows, memory.weightPtr(expert.kernel), t + 4 * taps * rows, memory.weightPtr(expert.bias));
      arena.scaleRows(used, f, t + 4 * taps * rows, expert.outRows.ptr, expert.gateRows.ptr);
    });
  }

  backward(batch: number): void {
    const { memory, spec, x, y, k, kp, patchRows, expertRows: rows, taps } = this;
    const { arena, zeroRow, scratchRow, partials } = memory;
    const { patchesPerExpert: l, filtersPerExpert: f, gate, patches: n } = spec;
    const { height: ph, width: pw } = spec.patch;
    const channels = x.channels;
    const used = batch * l * ph * pw;
    const dOut = memory.gradient(y);
    const dOutValues = new Float32Array(arena.floats(y.value).buffer, dOut, batch * y.positions * y.channels);
    const yBase = y.value.ptr;
    for (const [s, expert] of this.experts.entries()) {
      const [outRows, dOutRows] = [arena.ints(expert.outRows), arena.ints(expert.dOutRows)];
      for (let i = 0; i < used; i++) dOutRows[i] = outRows[i] - yBase + dOut;
      arena.scaleRows(used, f, expert.dOutRows.ptr, expert.dzRows.ptr, expert.gateRows.ptr);
      if (gate !== 'hard') {
        // dG = sum over the patch's pixels and filters of z dy.
        const z = arena.floats(expert.z);
        const pixels = ph * pw;
        for (let patch = 0; patch < batch * l; patch++) {
          let sum = 0;
          for (let i = patch * pixels; i < (patch + 1) * pixels; i++) {
            const [zAt, dAt] = [i * f, (outRows[i] - yBase) / FLOAT_BYTES];
            for (let o = 0; o < f; o++) sum += z[zAt + o] * dOutValues[dAt + o];
          }
          const [b, t] = [Math.floor(patch / l), patch % l];
          this.dGates[(b * k + s) * l + t] = sum;
        }
      }
      arena.doubles(expert.biasSums).fill(0);
      arena.batchNorm.columnSums(used, f, expert.dz.ptr, expert.biasSums.ptr);
      memory.gradValues(expert.bias).set(arena.doubles(expert.biasSums));
      const dKernel = memory.gradPtr(expert.kernel);
      for (let t = 0; t < taps; t++)
        arena.gemmTChunked(channels, f, used, expert.table.ptr + 4 * t * rows, expert.dz.ptr, dKernel + t * channels * f * FLOAT_BYTES, partials);
      const packed = arena.floats(expert.packed);
      const kernel = memory.weightValues(expert.kernel);
      for (let t = 0, at = 0; t < taps; t++) for (let o = 0; o < f; o++) for (let c = 0; c < channels; c++) packed[at++] = kernel[(t * channels + c) * f + o];
      const g = expert.gradTable.ptr;
      arena.gemmSeg(pad4(used), channels, f, taps, g, rows, expert.packed.ptr, g + 4 * taps * rows, zeroRow);
    }
    const routed = gate !== 'hard';
    if (routed) {
      const dScores = arena.floats(this.dScores);
      const column: ScoreColumn = { values: arena.floats(this.scores), base: 0, step: kp, n };
      const selection: Selection = { chosen: this.chosen, gates: this.gates, at: 0, l };
      for (let b = 0; b < batch; b++) {
        for (let s = 0; s < k; s++) {
          column.base = b * n * kp + s;
          selection.at = (b * k + s) * l;
          gateGradient(gate, column, selection, this.dGates, dScores, this.logSumExp[b * k + s]);
        }
      }
      const dRouter = memory.gradPtr(this.router);
      for (let py = 0; py < ph; py++) {
        arena.gemmTChunked(
          pw * channels,
          kp,
          batch * n,
          this.routerRows.ptr + 4 * py * patchRows,
          this.dScores.ptr,
          dRouter + py * pw * channels * kp * FLOAT_BYTES,
          partials,
        );
      }
      const routerT = arena.floats(this.routerT);
      const router = memory.weightValues(this.router);
      const width = pw * channels;
      for (let py = 0, at = 0; py < ph; py++) for (let s = 0; s < kp; s++) for (let j = 0; j < width; j++) routerT[at++] = router[(py * width + j) * kp + s];
    }
    memory.contribute(x, batch * x.positions, (target) => {
      if (routed) {
        // dx = dg R^T, patch row by patch row: every pixel of the map, written once.
        const dxRows = arena.ints(this.dxRouterRows);
        const routerRows = arena.ints(this.routerRows);
        for (let py = 0; py < ph; py++) {
          for (let i = 0; i < patchRows; i++) dxRows[py * patchRows + i] = i < batch * n ? routerRows[py * patchRows + i] - x.value.ptr + target : scratchRow;
        }
        for (let py = 0; py < ph; py++) {
          const rT = this.routerT.ptr + py * kp * pw * channels * FLOAT_BYTES;
          arena.gemmSeg(pad4(batch * n), pw * channels, kp, 1, this.dScoreRows.ptr, patchRows, rT, this.dxRouterRows.ptr + 4 * py * patchRows, zeroRow);
        }
      } else {
        new Float32Array(arena.floats(x.value).buffer, target, batch * x.positions * channels).fill(0);
      }
      const dx = new Float32Array(arena.floats(x.value).buffer, target, batch * x.positions * channels);
      for (const expert of this.experts) {
        const part = arena.floats(expert.dx);
        for (let i = 0; i < used; i++) {
          const [from, to] = [i * channels, expert.pixels[i] * channels];
          for (let c = 0; c < channels; c++) dx[to + c] += part[from + c];
        }
      }
    });
  }
}
