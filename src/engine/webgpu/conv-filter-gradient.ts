import * as tf from '@tensorflow/tfjs-core';
import { replaceWebgpuKernel } from './replace-kernel.js';

type TensorInfo = tf.TensorInfo;
type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Floats of one im2col block (256 MB): the batch is taken in chunks that fit, summed. */
export const IM2COL_FLOATS = 1 << 26;

/**
 * The filter gradient of a channels-last convolution as products, in the backend's own kernels:
 *   dW[i, j, c, o] = sum over b, y, x of xPadded[b, y sh + i, x sw + j, c] dy[b, y, x, o]
 * is im2col(x)^T dy, where im2col(x) [b y x, (i, j, c)] puts each output position's taps side by
 * side (one strided slice of the padded input per tap, concatenated on channels). Written for
 * tfjs-backend-webgpu 4.22, whose own kernel gives each filter entry one thread that loops over the
 * whole batch and image, several times slower than the products on the WRN's w = 10 shapes
 * (docs/gpu.md has the measurements). Returns undefined
 * for what it does not cover (channels-first data, see below), which the backend's kernel then runs.
 */
export function filterGradientByProducts(args: KernelArgs, im2colFloats = IM2COL_FLOATS): TensorInfo | undefined {
  const { backend } = args;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (attrs.dataFormat === 'NCHW') return undefined;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const backendName = tf.getBackend();
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize, filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co, outHeight: outH, outWidth: outW } = info;
  const { strideHeight: sh, strideWidth: sw, padInfo } = info;
  const { top, bottom, left, right } = padInfo;
  // tfjs sizes numeric pads with the filter's height and stride on both axes: where that leaves the
  // taps past the padded input, the backend's kernel answers as tfjs always did.
  if ((outH - 1) * sh + kh > x.shape[1] + top + bottom || (outW - 1) * sw + kw > x.shape[2] + left + right) return undefined;
  const temps: TensorInfo[] = [];
  const run = (kernelName: string, inputs: tf.NamedTensorInfoMap, kernelAttrs: object = {}): TensorInfo => {
    const kernel = tf.getKernel(kernelName, backendName);
    if (!kernel) throw new Error(`Conv2DBackpropFilter: the ${backendName} backend has no ${kernelName} kernel`);
    const out = kernel.kernelFunc({ inputs, backend, attrs: kernelAttrs as tf.NamedAttrMap }) as TensorInfo;
    temps.push(out);
    return out;
  };
  const disposeAll = (infos: TensorInfo[]) => infos.forEach((t) => (backend as tf.KernelBackend).disposeData(t.dataId));
  try {
    const padded =
      top || bottom || left || right
        ? run(
            'PadV2',
            { x },
            {
              paddings: [
                [0, 0],
                [top, bottom],
                [left, right],
                [0, 0],
              ],
              constantValue: 0,
            },
          )
        : x;
    const positions = outH * outW;
    const chunk = Math.max(1, Math.min(batchSize, Math.floor(im2colFloats / (positions * kh * kw * ci))));
    let sum: TensorInfo | undefined;
    for (let b0 = 0; b0 < batchSize; b0 += chunk) {
      const count = Math.min(chunk, batchSize - b0);
      const taps: TensorInfo[] = [];
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          taps.push(
            run(
              'StridedSlice',
              { x: padded },
              {
                begin: [b0, i, j, 0],
                end: [b0 + count, i + (outH - 1) * sh + 1, j + (outW - 1) * sw + 1, ci],
                strides: [1, sh, sw, 1],
                beginMask: 0,
                endMask: 0,
                ellipsisMask: 0,
                newAxisMask: 0,
                shrinkAxisMask: 0,
              },
            ),
          );
        }
      }
      const columns = taps.length === 1 ? taps[0] : run('Concat', taps as unknown as tf.NamedTensorInfoMap, { axis: 3 });
      const im2col = run('Reshape', { x: columns }, { shape: [1, count * positions, kh * kw * ci] });
      const dyChunk = count === batchSize ? dy : run('Slice', { x: dy }, { begin: [b0, 0, 0, 0], size: [count, outH, outW, co] });
      const dyRows = run('Reshape', { x: dyChunk }, { shape: [1, count * positions, co] });
      const part = run('BatchMatMul', { a: im2col, b: dyRows }, { transposeA: true, transposeB: false });
      sum = sum ? run('Add', { a: sum, b: part }) : part;
      // This chunk's blocks go now; only the running sum (and the padded input) stay.
      const kept = temps.filter((t) => t === sum || t === padded);
      disposeAll(temps.filter((t) => !kept.includes(t)));
      temps.splice(0, temps.length, ...kept);
    }
    const result = run('Reshape', { x: sum! }, { shape: [kh, kw, ci, co] });
    temps.pop(); // the result is the caller's
    return result;
  } finally {
    disposeAll(temps);
  }
}

/**
 * Makes the webgpu backend's Conv2DBackpropFilter run filterGradientByProducts (the backend's own
 * kernel for what that leaves). Idempotent.
 */
export function useProductFilterGradient(): void {
  replaceWebgpuKernel('Conv2DBackpropFilter', (args, original) => filterGradientByProducts(args) ?? (original(args) as TensorInfo));
}
