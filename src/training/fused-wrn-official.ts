import type { Region } from '../kernels/simd-arena.js';
import type { BatchNormReluSpec, ConvLayerSpec, PatchMoeSpec } from '../models/wrn-layers.js';
import { ConvLayer, type ConvolutionFactory } from './fused-wrn-conv.js';
import type { MapBuffer, StepMemory } from './fused-wrn-memory.js';
import { BatchNormRelu } from './fused-wrn-norm.js';
import { PatchRouter } from './fused-wrn-router.js';

const FLOAT_BYTES = 4;

/** One expert's maps and tables: m = x G_s, r = ReLU(BN_s(m)), z = conv_s(r) + b_s, each [B H W, .]. */
interface OfficialExpert {
  readonly masked: MapBuffer;
  readonly norm: BatchNormRelu;
  readonly conv: ConvLayer;
  readonly z: MapBuffer;
  /** Per pixel: G_s of its patch where expert s chose it, else 0. */
  readonly gatePixels: Region;
  /** m's rows, z's rows and where z's rows go in the output (channels s f ..). */
  readonly maskedRows: Region;
  readonly zRows: Region;
  readonly outRows: Region;
  /** Per call: where the output's gradient rows are, and z's gradient rows. */
  readonly dOutRows: Region;
  readonly dzRows: Region;
}

/**
 * The patch-level MoE of WRN-pMoE in the fused image trainer, formulation `official` (the authors'
 * Keras code; models/wrn-layers.ts):
 *   J_s, G                        the routers' choice and gates on the raw map x (fused-wrn-router.ts)
 *   m_s = x G_s                   G_s: each chosen patch's gate over its pixels, 0 elsewhere
 *   y_s = conv_s(ReLU(BN_s(m_s))) + b_s over the whole map ('same'): channels s f .. s f + f of y
 * Each expert's batch norm and convolution are the trainer's own layers (fused-wrn-norm.ts,
 * fused-wrn-conv.ts), named as tfjs names them (`<moe>/expert<s>_bn/...`, `<moe>/expert<s>/kernel`).
 * Backward: dm_s from them; dG = sum over the patch's pixels of dm_s x; dx = sum_s G_s dm_s plus
 * the routers' part. The same kernels as the wasm backend's ops: the same floats forward.
 */
export class OfficialPatchMoe {
  readonly router: PatchRouter;
  private readonly experts: OfficialExpert[] = [];
  /** x's rows and the ones the placing copies scale by. */
  private readonly xRows: Region;
  private readonly ones: Region;

  constructor(
    private readonly memory: StepMemory,
    readonly spec: PatchMoeSpec,
    private readonly x: MapBuffer,
    private readonly y: MapBuffer,
    algorithm: ConvolutionFactory,
  ) {
    if (spec.expertBatchNorm === null) throw new Error(`fused image trainer: ${spec.name} (official) has no expert batch norm`);
    const { arena, capacity } = memory;
    const { height, width, channels } = x;
    const f = spec.filtersPerExpert;
    if (f % 4 !== 0) throw new Error(`fused image trainer: ${spec.name} needs filters per expert in multiples of 4 (has ${f})`);
    this.router = new PatchRouter(memory, spec, x);
    const rows = capacity * x.positions;
    this.xRows = arena.alloc(rows);
    this.ones = arena.alloc(rows);
    for (let s = 0; s < spec.experts; s++) {
      const name = `${spec.name}/expert${s}`;
      const masked = memory.addMap(`${name}/input`, [height, width, channels]);
      const relu = memory.addMap(`${name}/relu`, [height, width, channels]);
      const z = memory.addMap(`${name}/output`, [height, width, f]);
      const normSpec: BatchNormReluSpec = { kind: 'bn-relu', name, inputs: [masked.name], outputShape: [height, width, channels], ...spec.expertBatchNorm };
      const convSpec: ConvLayerSpec = {
        kind: 'conv',
        name,
        inputs: [relu.name],
        inputShape: [height, width, channels],
        outputShape: [height, width, f],
        kernelSize: spec.kernelSize,
        stride: 1,
        padding: spec.kernelSize === 1 ? 'valid' : 'same',
        readsImages: false,
      };
      this.experts.push({
        masked,
        norm: new BatchNormRelu(memory, normSpec, masked, relu),
        conv: new ConvLayer(memory, convSpec, relu, z, algorithm),
        z,
        gatePixels: arena.alloc(rows),
        maskedRows: arena.alloc(rows),
        zRows: arena.alloc(rows),
        outRows: arena.alloc(rows),
        dOutRows: arena.alloc(rows),
        dzRows: arena.alloc(rows),
      });
    }
  }

  /** The experts' batch norms (the trainer reads and writes their moving statistics). */
  get norms(): BatchNormRelu[] {
    return this.experts.map((expert) => expert.norm);
  }

  prepare(): void {
    this.router.prepare();
    const { memory, x, y, spec } = this;
    const { arena, capacity } = memory;
    const rows = capacity * x.positions;
    const f = spec.filtersPerExpert;
    const xRows = arena.ints(this.xRows);
    for (let p = 0; p < rows; p++) xRows[p] = x.value.ptr + p * x.channels * FLOAT_BYTES;
    arena.floats(this.ones).fill(1);
    this.experts.forEach((expert, s) => {
      expert.conv.prepare();
      const [maskedRows, zRows, outRows] = [arena.ints(expert.maskedRows), arena.ints(expert.zRows), arena.ints(expert.outRows)];
      for (let p = 0; p < rows; p++) {
        maskedRows[p] = expert.masked.value.ptr + p * x.channels * FLOAT_BYTES;
        zRows[p] = expert.z.value.ptr + p * f * FLOAT_BYTES;
        outRows[p] = y.value.ptr + (p * y.channels + s * f) * FLOAT_BYTES;
      }
    });
  }

  forward(batch: number, training: boolean): void {
    const { memory, spec, x, router } = this;
    const { arena } = memory;
    const rows = batch * x.positions;
    const { patchesPerExpert: l } = spec;
    const { height: ph, width: pw } = spec.patch;
    router.route(batch);
    this.experts.forEach((expert, s) => {
      const gates = arena.floats(expert.gatePixels);
      gates.fill(0, 0, rows);
      for (let b = 0; b < batch; b++) {
        for (let t = 0; t < l; t++) {
          const at = (b * router.k + s) * l + t;
          const origin = router.patchOrigin(b, router.chosen[at]);
          // (Hard gates are 1.)
          for (let py = 0; py < ph; py++) gates.fill(router.gates[at], origin + py * x.width, origin + py * x.width + pw);
        }
      }
      arena.scaleRows(rows, x.channels, this.xRows.ptr, expert.maskedRows.ptr, expert.gatePixels.ptr);
      expert.norm.forward(batch, training);
      expert.conv.forward(batch);
      arena.scaleRows(rows, spec.filtersPerExpert, expert.zRows.ptr, expert.outRows.ptr, this.ones.ptr);
    });
  }

  backward(batch: number): void {
    const { memory, spec, x, y, router } = this;
    const { arena } = memory;
    const rows = batch * x.positions;
    const { patchesPerExpert: l } = spec;
    const { height: ph, width: pw } = spec.patch;
    const channels = x.channels;
    const f = spec.filtersPerExpert;
    const dOut = memory.gradient(y);
    const xValues = arena.floats(x.value);
    for (const [s, expert] of this.experts.entries()) {
      memory.contribute(expert.z, rows, (target) => {
        const [outRows, dOutRows, dzRows] = [arena.ints(expert.outRows), arena.ints(expert.dOutRows), arena.ints(expert.dzRows)];
        for (let p = 0; p < rows; p++) {
          dOutRows[p] = outRows[p] - y.value.ptr + dOut;
          dzRows[p] = target + p * f * FLOAT_BYTES;
        }
        arena.scaleRows(rows, f, expert.dOutRows.ptr, expert.dzRows.ptr, this.ones.ptr);
      });
      expert.conv.backward(batch);
      expert.norm.backward(batch);
      if (!router.routed) continue;
      // dG = sum over the chosen patch's pixels and channels of dm x.
      const dm = new Float32Array(xValues.buffer, memory.gradient(expert.masked), rows * channels);
      for (let b = 0; b < batch; b++) {
        for (let t = 0; t < l; t++) {
          const at = (b * router.k + s) * l + t;
          const origin = router.patchOrigin(b, router.chosen[at]);
          let sum = 0;
          for (let py = 0; py < ph; py++) {
            const from = (origin + py * x.width) * channels;
            for (let i = from; i < from + pw * channels; i++) sum += dm[i] * xValues[i];
          }
          router.dGates[at] = sum;
        }
      }
    }
    router.backward(batch);
    memory.contribute(x, rows, (target) => {
      router.writeInputGradient(batch, target);
      // dx += G_s dm_s, at the pixels each expert took (G_s is 0 elsewhere).
      const dx = new Float32Array(xValues.buffer, target, rows * channels);
      for (const [s, expert] of this.experts.entries()) {
        const dm = new Float32Array(xValues.buffer, memory.gradient(expert.masked), rows * channels);
        for (let b = 0; b < batch; b++) {
          for (let t = 0; t < l; t++) {
            const at = (b * router.k + s) * l + t;
            const [origin, gate] = [router.patchOrigin(b, router.chosen[at]), router.gates[at]];
            for (let py = 0; py < ph; py++) {
              const pixel = origin + py * x.width;
              for (let i = pixel * channels; i < (pixel + pw) * channels; i++) dx[i] += gate * dm[i];
            }
          }
        }
      }
    });
  }
}
