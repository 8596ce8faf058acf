/// <reference types="@webgpu/types" />
import * as tf from '@tensorflow/tfjs-core';

/**
 * Synchronous reads (dataSync, arraySync) on the WebGPU backend in Node.
 *
 * Why: pmoe's models and training loops read small tensors synchronously (routing indices, losses),
 * and tfjs-backend-webgpu's readSync needs a browser's OffscreenCanvas. WebGPU itself only maps
 * buffers asynchronously: dawn.node completes a map when Dawn processes its events, which it
 * schedules through `setImmediate` on the global object while a request is pending. So a read can
 * finish without leaving the current call stack by running that scheduled callback itself until
 * the buffer is mapped. `setImmediate` is wrapped once to learn dawn.node's callback (a native
 * function); during a synchronous read the callbacks it schedules are kept and run here rather
 * than by the event loop, and the last is handed back to the loop if no other is pending, so
 * Dawn's own chain of event processing goes on exactly once. No npm package does this: deasync
 * runs the libuv loop, which does not run immediates from inside a call (measured: no progress).
 */

type Tick = () => void;

let installed = false;
let latestTick: Tick | undefined;
let postedTicks = 0;
let captured: Tick[] | null = null;

const isNative = (fn: unknown): fn is Tick => typeof fn === 'function' && Function.prototype.toString.call(fn).includes('[native code]');

function installTickCapture(): void {
  if (installed) return;
  installed = true;
  const realSetImmediate = globalThis.setImmediate;
  const wrapped = function (this: unknown, callback: (...args: unknown[]) => void, ...args: unknown[]) {
    if (isNative(callback)) {
      latestTick = callback;
      if (captured) {
        captured.push(callback);
        return undefined;
      }
      postedTicks++;
      return realSetImmediate(() => {
        postedTicks--;
        callback();
      });
    }
    return realSetImmediate(callback, ...args);
  };
  globalThis.setImmediate = Object.assign(wrapped, realSetImmediate) as unknown as typeof setImmediate;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

let deviceError: string | undefined;

/**
 * Keeps the device's first validation error (a shader that does not compile, say) for the next
 * read to raise: dawn.node would only print it on stdout, and the results would be silently wrong.
 */
export function reportDeviceErrors(device: GPUDevice): void {
  deviceError = undefined;
  device.addEventListener('uncapturederror', (event) => {
    const error = (event as GPUUncapturedErrorEvent).error;
    deviceError ??= error.message.split('\n').find((line) => line.trim() !== '' && !line.endsWith(':')) ?? error.message;
    event.preventDefault();
  });
}

function raiseDeviceError(): void {
  if (deviceError === undefined) return;
  const message = deviceError;
  deviceError = undefined;
  throw new Error(`webgpu: the device rejected a kernel: ${message.trim()}`);
}

/** Maps a MAP_READ buffer before returning, by running Dawn's event processing here. */
export function mapReadSync(buffer: GPUBuffer): void {
  captured = [];
  let polls = 0;
  try {
    buffer.mapAsync(GPUMapMode.READ).catch(() => undefined); // failure shows as a buffer never mapped
    while (buffer.mapState !== 'mapped') {
      if (buffer.mapState === 'unmapped') throw new Error('webgpu: mapping a buffer for a synchronous read failed');
      const tick = captured.pop() ?? latestTick;
      if (!tick) throw new Error('webgpu: synchronous read before dawn.node scheduled any event processing');
      captured.length = 0;
      tick();
      // The GPU (or SwiftShader's threads) is still working: yield the core for 50 us.
      if (++polls > 32) Atomics.wait(pause, 0, 0, 0.05);
    }
  } finally {
    const last = captured.at(-1);
    captured = null;
    if (last && postedTicks === 0) globalThis.setImmediate(last);
  }
  raiseDeviceError();
}

/** The parts of tfjs-backend-webgpu's WebGPUBackend a synchronous read uses (public in JS, private in its types). */
interface WebGpuBackendInternals {
  tensorMap: { get(dataId: object): { values: tf.backend_util.BackendValues | null; dtype: tf.DataType; resource: GPUBuffer } };
  bufferManager: { acquireBuffer(size: number, usage: number): GPUBuffer; releaseBuffer(buffer: GPUBuffer): void };
  commandEncoder: GPUCommandEncoder;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  convertAndCacheOnCPU(dataId: object, values: tf.backend_util.BackendValues): void;
}

function readSync(this: WebGpuBackendInternals, dataId: object): tf.backend_util.BackendValues {
  const data = this.tensorMap.get(dataId);
  if (data.values != null || data.dtype === 'string') return data.values!;
  if (data.dtype === 'complex64') throw new Error('webgpu: synchronous reads of complex64 tensors are not supported');
  const source = data.resource;
  const staging = this.bufferManager.acquireBuffer(source.size, GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ);
  this.ensureCommandEncoderReady();
  this.endComputePassEncoder();
  this.commandEncoder.copyBufferToBuffer(source, 0, staging, 0, source.size);
  this.submitQueue();
  mapReadSync(staging);
  const bytes = staging.getMappedRange().slice(0);
  staging.unmap();
  this.bufferManager.releaseBuffer(staging);
  const values = tf.util.convertBackendValuesAndArrayBuffer(bytes, data.dtype);
  this.convertAndCacheOnCPU(dataId, values);
  return values;
}

/**
 * Gives the backend class synchronous reads, and routes its asynchronous reads through them too,
 * so that no map request of tfjs's own is pending while one runs here. Call before Dawn starts.
 */
export function patchSyncReads(backendClass: { prototype: object }): void {
  installTickCapture();
  Object.assign(backendClass.prototype, {
    readSync,
    async read(this: WebGpuBackendInternals, dataId: object) {
      return readSync.call(this, dataId);
    },
  });
}
