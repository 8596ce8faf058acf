import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { convFilterGradient, convForward, convInputGradient, type ConvGeometry } from './conv-gemm.js';
import { winogradApplies, winogradFilterGradient, winogradForward, winogradInputGradient, type WinogradTile } from './winograd-conv.js';

/**
 * pmoe's convolutions on the wasm backend's heap, one entry point per pass, each choosing its
 * algorithm: Winograd F(2x2, 3x3) or F(4x4, 3x3) (winograd-conv.ts) for 3x3 stride-1 layers
 * where the selection below measured it faster, the per-tap direct products (conv-gemm.ts)
 * otherwise. The tfjs kernels of ops/wasm-kernels.ts call these; so can a training step that runs
 * without tfjs's tape (docs/kernels.md). Each returns a tensor the caller owns, or null where no
 * SIMD kernel applies (the caller then runs its own).
 *
 * `PMOE_CONV` overrides the choice: `direct` (the per-tap products everywhere: the floats pmoe
 * computed before Winograd, bit for bit), `winograd2` or `winograd4` (that tile wherever Winograd
 * applies; for measuring), `auto` or unset (the table).
 */

type TensorInfo = tf.TensorInfo;

export type ConvPass = 'forward' | 'inputGradient' | 'filterGradient';
export type ConvAlgorithm = 'direct' | 'winograd2' | 'winograd4';

const SETTINGS = ['auto', 'direct', 'winograd2', 'winograd4'] as const;
type ConvSetting = (typeof SETTINGS)[number];

/** PMOE_CONV, checked: a clear error names the variable, the value and what it takes. */
export function convSetting(value = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.PMOE_CONV): ConvSetting {
  if (value === undefined || value === '') return 'auto';
  if ((SETTINGS as readonly string[]).includes(value)) return value as ConvSetting;
  throw new RangeError(`PMOE_CONV must be one of ${SETTINGS.join(', ')} (unset: auto); got ${JSON.stringify(value)}`);
}

/**
 * The tile each pass of a 3x3 stride-1 convolution takes by default, or null for direct
 * convolution: the selection table of docs/kernels.md, measured with bench/conv-algorithms.ts on
 * the Wide-ResNets' layers. A fixed table, not a calibration at run time, so that a run gives the
 * same floats on every machine it runs on. The forward pass never takes F(4x4, 3x3): its rounding
 * error, ~10x direct convolution's, flips ReLU masks and moves batch norm's statistics, and
 * through them a Wide-ResNet's lower gradients by 1e-3 relative (docs/kernels.md); the gradients'
 * errors pass on linearly, and F(4x4, 3x3)'s are as small there as F(2x2, 3x3)'s.
 */
function selectedTile(g: ConvGeometry, pass: ConvPass): WinogradTile | null {
  if (pass !== 'forward') return 4;
  // A stem on 1 or 3 channels: tfjs's XNNPACK convolution is as fast as F(2x2) on them widened to 4.
  return g.inChannels < 4 ? null : 2;
}

/** The algorithm `pass` of a convolution of geometry `g` runs with (see PMOE_CONV above). */
export function convAlgorithm(g: ConvGeometry, pass: ConvPass): ConvAlgorithm {
  const setting = convSetting();
  if (setting === 'direct' || !winogradApplies(g)) return 'direct';
  if (setting !== 'auto') return setting;
  const tile = selectedTile(g, pass);
  return tile === null ? 'direct' : tile === 2 ? 'winograd2' : 'winograd4';
}

const tileOf = (algorithm: ConvAlgorithm): WinogradTile => (algorithm === 'winograd2' ? 2 : 4);

/** out = conv(x, filter) + bias [batch, outHeight, outWidth, outChannels]; bias [outChannels] or none. */
export function conv2dForward(backend: BackendWasm, x: TensorInfo, filter: TensorInfo, bias: TensorInfo | undefined, g: ConvGeometry): TensorInfo | null {
  const algorithm = convAlgorithm(g, 'forward');
  if (algorithm !== 'direct') return winogradForward(backend, x, filter, bias, g, tileOf(algorithm));
  // Fewer than 4 input channels (a stem on images): XNNPACK, the caller's kernel, is faster.
  return g.inChannels % 4 === 0 ? convForward(backend, x, filter, bias, g) : null;
}

/** dx [batch, inHeight, inWidth, inChannels] from dy and the filter [kh, kw, inChannels, outChannels]. */
export function conv2dInputGradient(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry): TensorInfo | null {
  const algorithm = convAlgorithm(g, 'inputGradient');
  if (algorithm !== 'direct') return winogradInputGradient(backend, dy, filter, g, tileOf(algorithm));
  return convInputGradient(backend, dy, filter, g);
}

/** dW [kh, kw, inChannels, outChannels] from x and dy. */
export function conv2dFilterGradient(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo | null {
  const algorithm = convAlgorithm(g, 'filterGradient');
  if (algorithm !== 'direct') return winogradFilterGradient(backend, x, dy, g, tileOf(algorithm));
  return convFilterGradient(backend, x, dy, g);
}
