import { chunkedPartials, type Region } from '../kernels/simd-arena.js';
import { pad4 } from '../kernels/simd-gemm.js';
import type { PatchMoeSpec } from '../models/wrn-layers.js';
import type { MapBuffer, StepMemory, WeightEntry } from './fused-wrn-memory.js';
import { PatchRouter } from './fused-wrn-router.js';

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
 *   J_s, G                              the routers' choice and gates (fused-wrn-router.ts)
 *   z_s = conv_s(x at J_s) + b_s        inside each chosen patch, 'same' (zeros at its border)
 *   y = G z_s at the chosen patches' pixels, channels s f .. s f + f; zero elsewhere.
 * Backward: dz = G dy; dG = sum over the patch's pixels of z dy; dW_s, db_s, and dx through each
 * expert (the flipped kernel inside the patch, added at its pixels); for gates other than hard, dG
 * back to the scores (gateGradient), dR = patches^T dg and dx += dg R^T (written first: every pixel
 * lies in exactly one patch). The same kernels and tables as the wasm backend's ops, so the forward
 * pass gives the same floats and the same routing.
 */
export class SparsePatchMoe {
  readonly router: PatchRouter;
  private readonly experts: ExpertBuffers[] = [];
  private readonly taps: number;
  private readonly pad: number;
  /** An expert's rows at the capacity, padded to 4 (its tables' stride). */
  private readonly expertRows: number;

  constructor(
    private readonly memory: StepMemory,
    readonly spec: PatchMoeSpec,
    private readonly x: MapBuffer,
    private readonly y: MapBuffer,
  ) {
    const { arena, capacity } = memory;
    const { experts: k, patchesPerExpert: l, filtersPerExpert: f, kernelSize } = spec;
    const { height: ph, width: pw } = spec.patch;
    const channels = x.channels;
    if (f % 4 !== 0) throw new Error(`fused image trainer: ${spec.name} needs filters per expert in multiples of 4 (has ${f})`);
    this.router = new PatchRouter(memory, spec, x);
    this.taps = kernelSize * kernelSize;
    this.pad = Math.floor((kernelSize - 1) / 2);
    this.expertRows = pad4(capacity * l * ph * pw);
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
    memory.need('row', Math.max(channels, f));
    memory.need('partials', chunkedPartials(channels, f, capacity * l * ph * pw));
  }

  /** The tables that do not depend on the routing. */
  prepare(): void {
    this.router.prepare();
    const { memory, spec, x, expertRows: rows, taps, pad } = this;
    const { arena, capacity, zeroRow, scratchRow } = memory;
    const { height: ph, width: pw } = spec.patch;
    const channels = x.channels;
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
    const { memory, spec, x, y, router, expertRows: rows, taps, pad } = this;
    const { arena, zeroRow } = memory;
    const { patchesPerExpert: l, filtersPerExpert: f, kernelSize } = spec;
    const { height: ph, width: pw } = spec.patch;
    const channels = x.channels;
    const k = router.k;
    router.route(batch);
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
        const origin = router.patchOrigin(b, router.chosen[at]);
        for (let ty = 0, tap = 0; ty < kernelSize; ty++) {
          for (let tx = 0; tx < kernelSize; tx++, tap++) {
            const [sy, sx] = [py + ty - pad, px + tx - pad];
            const inside = sy >= 0 && sy < ph && sx >= 0 && sx < pw;
            table[tap * rows + i] = inside ? x.value.ptr + (origin + sy * x.width + sx) * channels * FLOAT_BYTES : zeroRow;
          }
        }
        const pixel = origin + py * x.width + px;
        expert.pixels[i] = pixel;
        outRows[i] = y.value.ptr + (pixel * y.channels + s * f) * FLOAT_BYTES;
        gateRows[i] = router.gates[at]; // 1 for hard gates
      }
      const t = expert.table.ptr;
      arena.gemmSeg(pad4(used), f, channels, taps, t, rows, memory.weightPtr(expert.kernel), t + 4 * taps * rows, memory.weightPtr(expert.bias));
      arena.scaleRows(used, f, t + 4 * taps * rows, expert.outRows.ptr, expert.gateRows.ptr);
    });
  }

  backward(batch: number): void {
    const { memory, spec, x, y, router, expertRows: rows, taps } = this;
    const { arena, zeroRow, partials } = memory;
    const { patchesPerExpert: l, filtersPerExpert: f } = spec;
    const { height: ph, width: pw } = spec.patch;
    const channels = x.channels;
    const k = router.k;
    const used = batch * l * ph * pw;
    const dOut = memory.gradient(y);
    const dOutValues = new Float32Array(arena.floats(y.value).buffer, dOut, batch * y.positions * y.channels);
    const yBase = y.value.ptr;
    for (const [s, expert] of this.experts.entries()) {
      const [outRows, dOutRows] = [arena.ints(expert.outRows), arena.ints(expert.dOutRows)];
      for (let i = 0; i < used; i++) dOutRows[i] = outRows[i] - yBase + dOut;
      arena.scaleRows(used, f, expert.dOutRows.ptr, expert.dzRows.ptr, expert.gateRows.ptr);
      if (router.routed) {
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
          router.dGates[(b * k + s) * l + t] = sum;
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
    router.backward(batch);
    memory.contribute(x, batch * x.positions, (target) => {
      // The routers' part covers every pixel; each expert's adds at the pixels it took.
      router.writeInputGradient(batch, target);
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
