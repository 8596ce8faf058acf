/// <reference types="@webgpu/types" />

/**
 * WebGPU's flag values (GPUBufferUsage, GPUMapMode, GPUShaderStage), which in Node exist as globals
 * only once dawn.node is loaded: these modules are imported before that.
 */
export const USAGE = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, STORAGE: 128 } as const;
export const MAP_READ = 1;
export const COMPUTE_STAGE = 4;

/** Storage buffers the kernels read and write; also copy source and target (uploads, reads, tests). */
export const STORAGE_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;

/** Bytes per f32, u32 and i32. */
export const WORD = 4;

/** A storage buffer of `words` 4-byte words (at least one; WebGPU rounds sizes to 4 bytes). */
export function storageBuffer(device: GPUDevice, words: number, label: string): GPUBuffer {
  return device.createBuffer({ label, size: Math.max(1, words) * WORD, usage: STORAGE_USAGE });
}

/** A storage buffer holding `values`. */
export function bufferWith(device: GPUDevice, values: Float32Array | Uint32Array | Int32Array, label: string): GPUBuffer {
  const buffer = device.createBuffer({ label, size: Math.max(1, values.length) * WORD, usage: STORAGE_USAGE, mappedAtCreation: true });
  const view = values instanceof Float32Array ? new Float32Array(buffer.getMappedRange()) : new Uint32Array(buffer.getMappedRange());
  view.set(values instanceof Int32Array ? new Uint32Array(values.buffer, values.byteOffset, values.length) : values);
  buffer.unmap();
  return buffer;
}

/**
 * Copies `words` words from `offset` (bytes) of each buffer into one staging buffer and waits for the
 * GPU: one submission and one map, however many ranges. Returns the words of each range.
 */
export async function readRanges(device: GPUDevice, ranges: readonly { buffer: GPUBuffer; offset?: number; words: number }[]): Promise<ArrayBuffer[]> {
  const total = ranges.reduce((sum, r) => sum + r.words, 0);
  const staging = device.createBuffer({ label: 'read', size: Math.max(1, total) * WORD, usage: USAGE.COPY_DST | USAGE.MAP_READ });
  const encoder = device.createCommandEncoder({ label: 'read' });
  let at = 0;
  for (const r of ranges) {
    if (r.words > 0) encoder.copyBufferToBuffer(r.buffer, r.offset ?? 0, staging, at * WORD, r.words * WORD);
    at += r.words;
  }
  device.queue.submit([encoder.finish()]);
  try {
    await staging.mapAsync(MAP_READ);
    const bytes = staging.getMappedRange().slice(0);
    staging.unmap();
    at = 0;
    return ranges.map((r) => {
      const part = bytes.slice(at * WORD, (at + r.words) * WORD);
      at += r.words;
      return part;
    });
  } finally {
    staging.destroy();
  }
}

/** The first `words` floats of a buffer (from `offset` bytes). */
export async function readFloats(device: GPUDevice, buffer: GPUBuffer, words: number, offset = 0): Promise<Float32Array> {
  const [bytes] = await readRanges(device, [{ buffer, offset, words }]);
  return new Float32Array(bytes);
}
