/** NHWC float images (e.g. bytes / 255) with integer class labels. */
export interface ImageSplit {
  readonly images: Float32Array;
  readonly labels: Int32Array;
  /** [count, height, width, channels]. */
  readonly shape: readonly [number, number, number, number];
}

export interface ImageData {
  readonly train: ImageSplit;
  /** Evaluated after every epoch when given. */
  readonly test?: ImageSplit;
}
