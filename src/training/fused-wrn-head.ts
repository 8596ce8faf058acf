import type { Region } from '../kernels/simd-arena.js';
import type { AddSpec, DenseSpec, GlobalAveragePoolSpec } from '../models/wrn-layers.js';
import type { MapBuffer, StepMemory, WeightEntry } from './fused-wrn-memory.js';

/** A layer's output of `units` numbers per image (float64, in JS), and its gradient. */
export interface VectorBuffer {
  readonly units: number;
  readonly values: Float64Array;
  readonly grad: Float64Array;
}

export function vectorBuffer(capacity: number, units: number): VectorBuffer {
  return { units, values: new Float64Array(capacity * units), grad: new Float64Array(capacity * units) };
}

/** y = a + b, one float32 rounding as tf.add (the affine pass with unit factors); its gradient reaches both inputs as it is. */
export class AddLayer {
  constructor(
    private readonly memory: StepMemory,
    readonly spec: AddSpec,
    private readonly a: MapBuffer,
    private readonly b: MapBuffer,
    private readonly y: MapBuffer,
  ) {}

  forward(batch: number): void {
    const { memory, y } = this;
    const vectors = memory.vectors;
    const floats = memory.arena.floats(vectors);
    floats.fill(1, 0, y.channels);
    floats.fill(0, y.channels, 2 * y.channels);
    const [ones, zeros] = [vectors.ptr, vectors.ptr + 4 * y.channels];
    memory.arena.affine(false, batch * y.positions, y.channels, this.a.value.ptr, ones, this.b.value.ptr, zeros, ones, zeros, y.value.ptr);
  }

  backward(batch: number): void {
    const rows = batch * this.y.positions;
    this.memory.share(this.a, rows, this.y);
    this.memory.share(this.b, rows, this.y);
  }
}

/** The mean over each image's positions, per channel (float64 sums, rounded to float32 as a tfjs tensor). */
export class GlobalAveragePool {
  private readonly sums: Region;

  constructor(
    private readonly memory: StepMemory,
    readonly spec: GlobalAveragePoolSpec,
    private readonly x: MapBuffer,
    readonly out: VectorBuffer,
  ) {
    this.sums = memory.arena.alloc(2 * memory.capacity * x.channels);
  }

  forward(batch: number): void {
    const { memory, x, out } = this;
    const { channels, positions } = x;
    const sums = memory.arena.doubles(this.sums);
    sums.fill(0, 0, batch * channels);
    const kernels = memory.arena.batchNorm;
    for (let b = 0; b < batch; b++) kernels.columnSums(positions, channels, x.value.ptr + 4 * b * positions * channels, this.sums.ptr + 8 * b * channels);
    for (let i = 0; i < batch * channels; i++) out.values[i] = Math.fround(sums[i] / positions);
  }

  backward(batch: number): void {
    const { memory, x, out } = this;
    const { channels, positions } = x;
    memory.contribute(x, batch * positions, (target) => {
      const dx = new Float32Array(memory.arena.floats(x.value).buffer, target, batch * positions * channels);
      for (let b = 0; b < batch; b++) {
        for (let c = 0; c < channels; c++) {
          const value = out.grad[b * channels + c] / positions;
          for (let p = 0, at = b * positions * channels + c; p < positions; p++, at += channels) dx[at] = value;
        }
      }
    });
  }
}

/** logits = x W + bias in float64 (W [in, units], float32), and its gradients. */
export class DenseLayer {
  readonly kernel: WeightEntry;
  readonly bias: WeightEntry;

  constructor(
    private readonly memory: StepMemory,
    readonly spec: DenseSpec,
    private readonly x: VectorBuffer,
    readonly out: VectorBuffer,
  ) {
    this.kernel = memory.addWeight(`${spec.name}/kernel`, [spec.inputUnits, spec.outputShape[0]]);
    this.bias = memory.addWeight(`${spec.name}/bias`, [spec.outputShape[0]]);
  }

  forward(batch: number): void {
    const { x, out } = this;
    const [inputs, units] = [x.units, out.units];
    const w = this.memory.weightValues(this.kernel);
    const bias = this.memory.weightValues(this.bias);
    for (let b = 0; b < batch; b++) {
      for (let o = 0; o < units; o++) {
        let sum = bias[o];
        for (let c = 0; c < inputs; c++) sum += x.values[b * inputs + c] * w[c * units + o];
        out.values[b * units + o] = sum;
      }
    }
  }

  backward(batch: number): void {
    const { x, out, memory } = this;
    const [inputs, units] = [x.units, out.units];
    const w = memory.weightValues(this.kernel);
    const dw = memory.gradValues(this.kernel);
    const db = memory.gradValues(this.bias);
    for (let o = 0; o < units; o++) {
      let sum = 0;
      for (let b = 0; b < batch; b++) sum += out.grad[b * units + o];
      db[o] = sum;
    }
    for (let c = 0; c < inputs; c++) {
      for (let o = 0; o < units; o++) {
        let sum = 0;
        for (let b = 0; b < batch; b++) sum += x.values[b * inputs + c] * out.grad[b * units + o];
        dw[c * units + o] = sum;
      }
    }
    for (let b = 0; b < batch; b++) {
      for (let c = 0; c < inputs; c++) {
        let sum = 0;
        for (let o = 0; o < units; o++) sum += out.grad[b * units + o] * w[c * units + o];
        x.grad[b * inputs + c] = sum;
      }
    }
  }
}
