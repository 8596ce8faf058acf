/**
 * Tensors on the JSON-lines channel to the PyTorch peer: little-endian bytes in base64, so the
 * values arrive bit for bit (the numerical agreement check compares the same float32 numbers).
 */
export interface WireTensor {
  readonly shape: number[];
  readonly dtype: 'float32' | 'int32';
  readonly b64: string;
}

export function encodeTensor(values: Float32Array | Int32Array, shape: readonly number[]): WireTensor {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== values.length) throw new RangeError(`shape [${shape.join(', ')}] holds ${size} values; got ${values.length}`);
  const dtype = values instanceof Int32Array ? 'int32' : 'float32';
  return { shape: [...shape], dtype, b64: Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64') };
}

export function decodeTensor(tensor: WireTensor): Float32Array {
  if (tensor.dtype !== 'float32') throw new TypeError(`expected a float32 tensor; got ${tensor.dtype}`);
  const bytes = Buffer.from(tensor.b64, 'base64');
  // Copy into a fresh, aligned buffer.
  const values = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(values.buffer).set(bytes);
  return values;
}
