import pngjs from 'pngjs';

/** Grayscale bytes [height, width] row-major as a PNG data URL (pngjs, 8-bit gray). */
export function grayscalePngDataUrl(pixels: Uint8Array, width: number, height: number): string {
  if (pixels.length !== width * height) throw new RangeError(`${pixels.length} pixels for a ${width}x${height} image`);
  const png = new pngjs.PNG({ width, height, colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
  png.data = Buffer.from(pixels);
  const bytes = pngjs.PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
  return `data:image/png;base64,${bytes.toString('base64')}`;
}
