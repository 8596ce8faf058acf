/**
 * A 2-D convolution (NHWC, filter [kh, kw, ci, co], stride 1, zero padding top/left, any output
 * size) and its two gradients as plain float64 loops: the reference that the Winograd and direct
 * kernels are measured against (bench/winograd-error.ts, test/kernels/winograd-conv.test.ts).
 */
export interface ReferenceGeometry {
  readonly batch: number;
  readonly inHeight: number;
  readonly inWidth: number;
  readonly inChannels: number;
  readonly outHeight: number;
  readonly outWidth: number;
  readonly outChannels: number;
  readonly kernelHeight: number;
  readonly kernelWidth: number;
  readonly top: number;
  readonly left: number;
}

/** Calls visit(xIndex, filterIndex, outIndex) for every multiply-add of the convolution. */
function eachTerm(g: ReferenceGeometry, visit: (xAt: number, fAt: number, outAt: number) => void): void {
  const { inChannels: ci, outChannels: co } = g;
  for (let b = 0; b < g.batch; b++) {
    for (let y = 0; y < g.outHeight; y++) {
      for (let x = 0; x < g.outWidth; x++) {
        const outAt = ((b * g.outHeight + y) * g.outWidth + x) * co;
        for (let ky = 0; ky < g.kernelHeight; ky++) {
          const iy = y + ky - g.top;
          if (iy < 0 || iy >= g.inHeight) continue;
          for (let kx = 0; kx < g.kernelWidth; kx++) {
            const ix = x + kx - g.left;
            if (ix < 0 || ix >= g.inWidth) continue;
            const xAt = ((b * g.inHeight + iy) * g.inWidth + ix) * ci;
            const fAt = (ky * g.kernelWidth + kx) * ci * co;
            for (let c = 0; c < ci; c++) visit(xAt + c, fAt + c * co, outAt);
          }
        }
      }
    }
  }
}

/** out = conv(x, filter) (+ bias), float64. */
export function referenceForward(g: ReferenceGeometry, x: ArrayLike<number>, filter: ArrayLike<number>, bias?: ArrayLike<number>): Float64Array {
  const co = g.outChannels;
  const out = new Float64Array(g.batch * g.outHeight * g.outWidth * co);
  if (bias) for (let i = 0; i < out.length; i++) out[i] = bias[i % co];
  eachTerm(g, (xAt, fAt, outAt) => {
    const v = x[xAt];
    for (let o = 0; o < co; o++) out[outAt + o] += v * filter[fAt + o];
  });
  return out;
}

/** dx from dy and the filter, float64. */
export function referenceInputGradient(g: ReferenceGeometry, dy: ArrayLike<number>, filter: ArrayLike<number>): Float64Array {
  const co = g.outChannels;
  const dx = new Float64Array(g.batch * g.inHeight * g.inWidth * g.inChannels);
  eachTerm(g, (xAt, fAt, outAt) => {
    let sum = 0;
    for (let o = 0; o < co; o++) sum += dy[outAt + o] * filter[fAt + o];
    dx[xAt] += sum;
  });
  return dx;
}

/** dW from x and dy, float64. */
export function referenceFilterGradient(g: ReferenceGeometry, x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  const co = g.outChannels;
  const dW = new Float64Array(g.kernelHeight * g.kernelWidth * g.inChannels * co);
  eachTerm(g, (xAt, fAt, outAt) => {
    const v = x[xAt];
    for (let o = 0; o < co; o++) dW[fAt + o] += v * dy[outAt + o];
  });
  return dW;
}

/** max |actual - expected| / max |expected| (0 where both are zero): the error measure of docs/kernels.md. */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`maxRelativeError: ${actual.length} values against ${expected.length}`);
  let difference = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    difference = Math.max(difference, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return difference === 0 ? 0 : difference / scale;
}

/**
 * The largest error in any channel over that channel's spread: max over c of
 * max |actual - expected| / std(expected) over the values of channel c (the last axis, `channels`
 * wide). What batch norm sees: it divides each channel by its spread, so an error of this size
 * moves the normalised values by as much.
 */
export function maxChannelError(actual: ArrayLike<number>, expected: ArrayLike<number>, channels: number): number {
  let worst = 0;
  for (let c = 0; c < channels; c++) {
    let [sum, squares, count, difference] = [0, 0, 0, 0];
    for (let i = c; i < expected.length; i += channels) {
      sum += expected[i];
      squares += expected[i] * expected[i];
      count++;
      difference = Math.max(difference, Math.abs(actual[i] - expected[i]));
    }
    const spread = Math.sqrt(Math.max(squares / count - (sum / count) ** 2, 0));
    if (spread > 0) worst = Math.max(worst, difference / spread);
  }
  return worst;
}
