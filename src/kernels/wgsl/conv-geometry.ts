import { checkSizes } from './kernel.js';

/**
 * A 2-D convolution, channels last (NHWC), square kernel, dilation 1, as the convolution kernels
 * take it. `groups` convolutions of one shape run side by side (the experts of a PatchMoE, each on
 * its own gathered patches with its own kernel): group g's tensors start g times their group stride
 * into their buffers.
 */
export interface ConvShape {
  readonly batch: number;
  readonly inHeight: number;
  readonly inWidth: number;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly stride: number;
  /** TensorFlow's 'same' (output ceil(in / stride), the padding split with the extra row at the bottom) or 'valid'. */
  readonly padding: 'same' | 'valid';
  /** Default 1. */
  readonly groups?: number;
  /** Floats from one group's kernel [k, k, in, out] to the next's (default its size). */
  readonly kernelGroupStride?: number;
  /** Floats from one group's bias to the next's (default outChannels). */
  readonly biasGroupStride?: number;
}

export interface ConvGeometry extends Required<ConvShape> {
  readonly outHeight: number;
  readonly outWidth: number;
  readonly padTop: number;
  readonly padLeft: number;
  /** Floats of one group's input [batch, H, W, in] and output [batch, Ho, Wo, out]. */
  readonly inputSize: number;
  readonly outputSize: number;
}

/** Output size and the padding before the first row and column, as TensorFlow (and tfjs) compute them. */
function along(size: number, kernel: number, stride: number, padding: 'same' | 'valid'): { out: number; before: number } {
  if (padding === 'valid') return { out: Math.floor((size - kernel) / stride) + 1, before: 0 };
  const out = Math.ceil(size / stride);
  const total = Math.max(0, (out - 1) * stride + kernel - size);
  return { out, before: Math.floor(total / 2) };
}

export function convGeometry(shape: ConvShape): ConvGeometry {
  const groups = shape.groups ?? 1;
  checkSizes('convolution', {
    batch: shape.batch,
    inHeight: shape.inHeight,
    inWidth: shape.inWidth,
    inChannels: shape.inChannels,
    outChannels: shape.outChannels,
    kernelSize: shape.kernelSize,
    stride: shape.stride,
    groups,
  });
  const rows = along(shape.inHeight, shape.kernelSize, shape.stride, shape.padding);
  const cols = along(shape.inWidth, shape.kernelSize, shape.stride, shape.padding);
  if (rows.out < 1 || cols.out < 1)
    throw new RangeError(`convolution: a ${shape.kernelSize}x${shape.kernelSize} 'valid' kernel does not fit ${shape.inHeight}x${shape.inWidth}`);
  const kernelFloats = shape.kernelSize * shape.kernelSize * shape.inChannels * shape.outChannels;
  return {
    ...shape,
    groups,
    kernelGroupStride: shape.kernelGroupStride ?? kernelFloats,
    biasGroupStride: shape.biasGroupStride ?? shape.outChannels,
    outHeight: rows.out,
    outWidth: cols.out,
    padTop: rows.before,
    padLeft: cols.before,
    inputSize: shape.batch * shape.inHeight * shape.inWidth * shape.inChannels,
    outputSize: shape.batch * rows.out * cols.out * shape.outChannels,
  };
}
