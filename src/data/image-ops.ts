/** Small operations on NHWC byte images: area resizing, cropping, pasting, selecting. */

/** A rectangle of an image, in pixels. */
export interface Box {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

/** Source pixels and weights of each output pixel along one axis (area averaging). */
function areaWeights(start: number, length: number, outLength: number): { index: Int32Array; weight: Float64Array; offsets: Int32Array } {
  const scale = length / outLength;
  const index: number[] = [];
  const weight: number[] = [];
  const offsets = new Int32Array(outLength + 1);
  for (let o = 0; o < outLength; o++) {
    const from = o * scale;
    const to = (o + 1) * scale;
    for (let i = Math.floor(from); i < Math.min(length, Math.ceil(to)); i++) {
      const overlap = Math.min(to, i + 1) - Math.max(from, i);
      if (overlap > 1e-12) {
        index.push(start + i);
        weight.push(overlap / scale);
      }
    }
    offsets[o + 1] = index.length;
  }
  return { index: Int32Array.from(index), weight: Float64Array.from(weight), offsets };
}

/**
 * Resizes the `box` of one HWC image (`height` x `width` x `channels`) to `outHeight` x `outWidth` by
 * area averaging: each output pixel is the mean of the source area it covers, partial pixels weighted
 * by their covered fraction (exact k x k means for integer factors; when enlarging, each output pixel
 * takes the source pixel(s) under it). Returns float values in the source's units.
 */
export function resizeArea(
  source: ArrayLike<number>,
  height: number,
  width: number,
  channels: number,
  outHeight: number,
  outWidth: number,
  box: Box = { top: 0, left: 0, height, width },
): Float32Array {
  if (box.top < 0 || box.left < 0 || box.height < 1 || box.width < 1 || box.top + box.height > height || box.left + box.width > width) {
    throw new RangeError(`resizeArea: box ${JSON.stringify(box)} is not inside the ${height}x${width} image`);
  }
  if (source.length < height * width * channels) {
    throw new RangeError(`resizeArea: ${source.length} values are fewer than ${height}x${width}x${channels}`);
  }
  const rows = areaWeights(box.top, box.height, outHeight);
  const cols = areaWeights(box.left, box.width, outWidth);
  // Horizontal pass over the rows the vertical pass needs: [box.height, outWidth, channels].
  const across = new Float64Array(box.height * outWidth * channels);
  for (let y = 0; y < box.height; y++) {
    const sourceRow = (box.top + y) * width;
    for (let x = 0; x < outWidth; x++) {
      const out = (y * outWidth + x) * channels;
      for (let t = cols.offsets[x]; t < cols.offsets[x + 1]; t++) {
        const from = (sourceRow + cols.index[t]) * channels;
        const w = cols.weight[t];
        for (let c = 0; c < channels; c++) across[out + c] += w * source[from + c];
      }
    }
  }
  const result = new Float32Array(outHeight * outWidth * channels);
  for (let y = 0; y < outHeight; y++) {
    for (let t = rows.offsets[y]; t < rows.offsets[y + 1]; t++) {
      const w = rows.weight[t];
      const from = (rows.index[t] - box.top) * outWidth * channels;
      const out = y * outWidth * channels;
      for (let i = 0; i < outWidth * channels; i++) result[out + i] += w * across[from + i];
    }
  }
  return result;
}

/** The centred square of side `side` (default: the shorter side) of a height x width image. */
export function centerSquare(height: number, width: number, side = Math.min(height, width)): Box {
  if (!(Number.isInteger(side) && side >= 1 && side <= Math.min(height, width))) {
    throw new RangeError(`centerSquare: side must be an integer in 1..${Math.min(height, width)} for a ${height}x${width} image; got ${side}`);
  }
  return { top: Math.floor((height - side) / 2), left: Math.floor((width - side) / 2), height: side, width: side };
}

/** Rounds and clamps floats to bytes. */
export function toBytes(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(values[i])));
  return out;
}

/** Bytes 0..255 to floats 0..1 (the official code divides by 255). */
export function toUnitFloats(bytes: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 255;
  return out;
}

/** Writes an HWC `tile` (tileHeight x tileWidth x channels) into the HWC image at (top, left). */
export function paste(
  image: Uint8Array,
  imageWidth: number,
  channels: number,
  tile: ArrayLike<number>,
  tileHeight: number,
  tileWidth: number,
  top: number,
  left: number,
): void {
  for (let y = 0; y < tileHeight; y++) {
    for (let x = 0; x < tileWidth; x++) {
      const to = ((top + y) * imageWidth + left + x) * channels;
      const from = (y * tileWidth + x) * channels;
      for (let c = 0; c < channels; c++) image[to + c] = tile[from + c];
    }
  }
}

/** NHWC images of `source` at `rows`, in that order. */
export function takeImages(images: Uint8Array, shape: readonly [number, number, number, number], rows: ArrayLike<number>): Uint8Array {
  const size = shape[1] * shape[2] * shape[3];
  const out = new Uint8Array(rows.length * size);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!(r >= 0 && r < shape[0])) throw new RangeError(`takeImages: row ${r} is not in 0..${shape[0] - 1}`);
    out.set(images.subarray(r * size, (r + 1) * size), i * size);
  }
  return out;
}
