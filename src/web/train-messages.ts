/** The messages between the page (./train-panel.ts) and its training worker (./train-worker.ts). */
import type { EpochMetrics } from '../training/train.js';
import type { BrowserBackend, BrowserRunSettings } from './browser-run.js';

export type ToWorker =
  | { readonly type: 'start'; readonly settings: BrowserRunSettings; readonly backend: BrowserBackend }
  /** Hold training at the end of the current epoch (Stop); `continue` goes on from there. */
  | { readonly type: 'pause' }
  | { readonly type: 'continue' }
  /** The model as it is now, in pmoe's model-file format. */
  | { readonly type: 'model' };

/** A fixed test image the page follows epoch by epoch. */
export interface ExampleImage {
  readonly label: number;
  readonly discriminativePatch: number;
  /** MNIST-patch: the image's grayscale bytes, side x side (side = gridSize x 28); synthetic: absent. */
  readonly pixels?: Uint8Array;
}

export interface ExampleRouting {
  readonly indices: Int32Array;
  readonly gates: Float32Array;
}

export type FromWorker =
  /** `fma`: pmoe's kernels use relaxed SIMD's fused multiply-add (as `pmoe train` does where V8 has it). */
  | { readonly type: 'ready'; readonly backend: string; readonly stepPath: string; readonly fma: boolean }
  | {
      readonly type: 'data';
      readonly trainCount: number;
      readonly testCount: number;
      readonly patchCount: number;
      readonly gridSize: number;
      readonly examples: readonly ExampleImage[];
    }
  | { readonly type: 'progress'; readonly phase: 'routers' | 'experts' | 'model'; readonly epoch: number; readonly total: number }
  | {
      readonly type: 'epoch';
      readonly epoch: number;
      readonly total: number;
      readonly metrics: EpochMetrics | undefined;
      /** pMoE: the discriminative-routing rate on the whole test set after this epoch. */
      readonly routingRate?: number;
      readonly examples?: readonly ExampleRouting[];
    }
  | { readonly type: 'paused'; readonly epoch: number }
  | { readonly type: 'done'; readonly epochs: number; readonly finalTestAccuracy: number; readonly routingRate?: number; readonly seconds: number }
  | { readonly type: 'model'; readonly text: string }
  | { readonly type: 'error'; readonly message: string };
