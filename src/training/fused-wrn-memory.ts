import type { Region, SimdArena } from '../kernels/simd-arena.js';
import { pad4 } from '../kernels/simd-gemm.js';

/**
 * The memory of the fused image trainer (fused-wrn.ts): every feature map of a batch and its
 * gradient, the trainable weights and theirs, and the scratch the layers share, all in one
 * SimdArena. Sized for the trainer's capacity (its largest batch); a smaller batch uses the first
 * rows. Regions are carved while the layers are built; views are taken only when a step runs.
 */

/** One image's feature map [height, width, channels] for every image of a batch: [capacity height width, pixelFloats] row-major. */
export interface MapBuffer {
  readonly name: string;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** Floats per pixel: the channels (the images: padded to 4, so that a filter gradient reads whole vectors). */
  readonly pixelFloats: number;
  /** height * width. */
  readonly positions: number;
  readonly value: Region;
  /** Where contributions to this map's gradient are summed; null for the images (no gradient). */
  readonly grad: Region | null;
}

/** A trainable weight in the arena, in its tfjs layout [rows, cols] except that rows may be padded to `stride` >= cols floats (zeros). */
export interface WeightEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly rows: number;
  readonly cols: number;
  readonly stride: number;
  /** Offset into the weight and gradient regions, floats (a multiple of 4). */
  readonly offset: number;
}

type ScratchKind = 'partials' | 'temp' | 'row' | 'blockSums' | 'vectors';

export class StepMemory {
  readonly maps = new Map<string, MapBuffer>();
  readonly weights: WeightEntry[] = [];
  private weightFloats = 0;
  private readonly needs = new Map<ScratchKind, number>();
  private regions: Record<ScratchKind | 'weights' | 'grads' | 'zero', Region> | null = null;
  /** Where each map's gradient is now: its own region, or another map's it shares (an add's output) until a second contribution comes. */
  private readonly gradients = new Map<MapBuffer, Region>();

  constructor(
    readonly arena: SimdArena,
    /** The largest batch. */
    readonly capacity: number,
  ) {}

  /** A map of `capacity` images, with a gradient region unless `withGradient` is false. */
  addMap(name: string, [height, width, channels]: readonly [number, number, number], withGradient = true, pixelFloats = channels): MapBuffer {
    const floats = this.capacity * height * width * pixelFloats;
    const map: MapBuffer = {
      name,
      height,
      width,
      channels,
      pixelFloats,
      positions: height * width,
      value: this.arena.alloc(floats),
      grad: withGradient ? this.arena.alloc(floats) : null,
    };
    this.maps.set(name, map);
    this.need('temp', floats);
    this.need('row', pixelFloats);
    this.need('vectors', 2 * channels);
    return map;
  }

  map(name: string): MapBuffer {
    const map = this.maps.get(name);
    if (map === undefined) throw new Error(`fused image trainer: no feature map ${name}`);
    return map;
  }

  /** Declares a weight of this shape; [rows, cols] is the shape with every axis but the last as rows, cols padded to `stride`. */
  addWeight(name: string, shape: readonly number[], stride = shape[shape.length - 1]): WeightEntry {
    const cols = shape[shape.length - 1];
    const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const entry = { name, shape, rows, cols, stride, offset: this.weightFloats };
    this.weightFloats += pad4(rows * stride);
    this.weights.push(entry);
    return entry;
  }

  /** Asks for at least `floats` of a kind of scratch (the largest request of each kind is allocated). */
  need(kind: ScratchKind, floats: number): void {
    this.needs.set(kind, Math.max(this.needs.get(kind) ?? 0, floats));
  }

  /** Allocates the weights and the scratch; call once, after every layer is built. */
  finish(): void {
    const arena = this.arena;
    const size = (kind: ScratchKind) => Math.max(this.needs.get(kind) ?? 0, 4);
    const row = pad4(size('row')) + 4;
    this.regions = {
      weights: arena.alloc(this.weightFloats),
      grads: arena.alloc(this.weightFloats),
      partials: arena.alloc(size('partials')),
      temp: arena.alloc(2 * size('temp')),
      // The zero row that reads in the padding take, then a row that padding rows of a product write.
      zero: arena.alloc(row),
      row: arena.alloc(row),
      blockSums: arena.alloc(size('blockSums')),
      vectors: arena.alloc(size('vectors')),
    };
  }

  private get all(): NonNullable<StepMemory['regions']> {
    if (this.regions === null) throw new Error('fused image trainer: memory used before finish()');
    return this.regions;
  }

  /** Byte address of a weight's values, or of its gradient. */
  weightPtr(entry: WeightEntry): number {
    return this.all.weights.ptr + 4 * entry.offset;
  }

  gradPtr(entry: WeightEntry): number {
    return this.all.grads.ptr + 4 * entry.offset;
  }

  weightValues(entry: WeightEntry): Float32Array {
    return this.arena.floats(this.all.weights).subarray(entry.offset, entry.offset + entry.rows * entry.stride);
  }

  gradValues(entry: WeightEntry): Float32Array {
    return this.arena.floats(this.all.grads).subarray(entry.offset, entry.offset + entry.rows * entry.stride);
  }

  /** w -= learningRate dw over every weight (one SIMD pass, rounded as tf.train.sgd). */
  sgd(learningRate: number): void {
    this.arena.sgdStep(this.all.weights, this.all.grads, this.weightFloats, learningRate);
  }

  get zeroRow(): number {
    return this.all.zero.ptr;
  }

  get scratchRow(): number {
    return this.all.row.ptr;
  }

  /** gemmTChunked's scratch. */
  get partials(): Region {
    return this.all.partials;
  }

  /** A scratch map for a layer's own use (the other half of the temp region serves contribute()). */
  get layerTemp(): number {
    return this.all.temp.ptr + 4 * (this.all.temp.length / 2);
  }

  get blockSums(): Region {
    return this.all.blockSums;
  }

  /** Per-channel vectors for the batch-norm passes (`need('vectors', ...)` floats). */
  get vectors(): Region {
    return this.all.vectors;
  }

  /** Forgets every map's gradient (before a backward pass). */
  resetGradients(): void {
    this.gradients.clear();
  }

  /** Where the map's gradient is; an error where nothing contributed one (a layer off the loss's path). */
  gradient(map: MapBuffer): number {
    const region = this.gradients.get(map);
    if (region === undefined) throw new Error(`fused image trainer: ${map.name} has no gradient`);
    return region.ptr;
  }

  /**
   * Adds a contribution to a map's gradient over its first `rows` rows: `write(target)` writes it at
   * the byte address `target`, which is the map's own gradient when this is the first contribution.
   */
  contribute(map: MapBuffer, rows: number, write: (target: number) => void): void {
    if (map.grad === null) throw new Error(`fused image trainer: ${map.name} takes no gradient`);
    const current = this.gradients.get(map);
    if (current === undefined) {
      write(map.grad.ptr);
      this.gradients.set(map, map.grad);
      return;
    }
    const temp = this.all.temp.ptr;
    write(temp);
    this.add(map, rows, current.ptr, temp);
  }

  /** A contribution that is another map's gradient as it is (an add passes its gradient on): shared until a second contribution comes. */
  share(map: MapBuffer, rows: number, from: MapBuffer): void {
    if (map.grad === null) throw new Error(`fused image trainer: ${map.name} takes no gradient`);
    const source = this.gradients.get(from);
    if (source === undefined) throw new Error(`fused image trainer: ${from.name} has no gradient`);
    const current = this.gradients.get(map);
    if (current === undefined) this.gradients.set(map, source);
    else this.add(map, rows, current.ptr, source.ptr);
  }

  /** map's own gradient = a + b (the affine pass with unit factors: one rounding, as an add). */
  private add(map: MapBuffer, rows: number, a: number, b: number): void {
    const { channels } = map;
    const vectors = this.all.vectors;
    const floats = this.arena.floats(vectors);
    floats.fill(1, 0, channels);
    floats.fill(0, channels, 2 * channels);
    const [ones, zeros] = [vectors.ptr, vectors.ptr + 4 * channels];
    this.arena.affine(false, rows, channels, a, ones, b, zeros, ones, zeros, map.grad!.ptr);
    this.gradients.set(map, map.grad!);
  }
}
