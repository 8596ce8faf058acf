import * as tf from '@tensorflow/tfjs-core';
// Types only: the core entry of the package must not load the wasm backend (useFastKernels does).
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Every use pmoe makes of the wasm backend's internals, which tfjs does not promise to keep: the
 * emscripten module's memory (the SIMD kernels run on it in place), the data-id table and the
 * module's own disposeData (views over another tensor's memory), the module's BatchMatMul
 * entry (XNNPACK by data id), and its malloc and free (row tables kept on the heap). Written against tfjs 4.22; checkWasmInternals (run by initEngine
 * when the wasm backend starts) fails with the versions at hand if they moved.
 */
export const WRITTEN_FOR_TFJS = '4.22';

interface Internals {
  wasm: {
    asm?: { memory?: unknown };
    tfjs?: { disposeData?: unknown };
    cwrap?: unknown;
    _BatchMatMul?: unknown;
    _malloc?: unknown;
    _free?: unknown;
  };
  dataIdMap?: { get?: unknown; delete?: unknown };
}

const internals = (backend: BackendWasm) => backend as unknown as Internals;

/** The wasm backend's internals differ from what pmoe was written for. */
export class WasmInternalsError extends Error {
  constructor(what: string) {
    super(
      `pmoe's wasm kernels rely on internals of @tensorflow/tfjs-backend-wasm ${WRITTEN_FOR_TFJS}, and ${what}; ` +
        `installed: tfjs-core ${tf.version_core} (useFastKernels has checked that the other tfjs packages match it). ` +
        `Install the tfjs versions of pmoe's package.json, or use --backend cpu.`,
    );
    this.name = 'WasmInternalsError';
  }
}

const checked = new WeakSet<object>();

/**
 * Checks, once per backend, that the internals below are where they were: their types, then a
 * probe tensor whose heap view, offset and id must agree with the module's memory. Throws
 * WasmInternalsError otherwise.
 */
export function checkWasmInternals(backend: BackendWasm): void {
  if (checked.has(backend)) return;
  const { wasm, dataIdMap } = internals(backend);
  const publicApi = ['makeOutput', 'typedArrayFromHeap', 'getMemoryOffset', 'disposeData', 'incRef'] as const;
  for (const name of publicApi) if (typeof backend[name] !== 'function') throw new WasmInternalsError(`backend.${name} is not a function`);
  if (!(wasm?.asm?.memory instanceof WebAssembly.Memory)) throw new WasmInternalsError('backend.wasm.asm.memory is not a WebAssembly.Memory');
  if (typeof wasm.tfjs?.disposeData !== 'function') throw new WasmInternalsError('backend.wasm.tfjs.disposeData is not a function');
  if (typeof wasm._malloc !== 'function' || typeof wasm._free !== 'function') throw new WasmInternalsError('backend.wasm._malloc or _free is not a function');
  if (typeof dataIdMap?.get !== 'function' || typeof dataIdMap.delete !== 'function') throw new WasmInternalsError('backend.dataIdMap is not a map');
  const probe = backend.makeOutput([4], 'float32');
  try {
    const view = backend.typedArrayFromHeap(probe);
    const offset = backend.getMemoryOffset(probe.dataId);
    if (view.buffer !== wasm.asm.memory.buffer || view.byteOffset !== offset) {
      throw new WasmInternalsError("a tensor's heap view is not at its memory offset in backend.wasm.asm.memory");
    }
    if (typeof backend.dataIdMap.get(probe.dataId)?.id !== 'number') throw new WasmInternalsError('backend.dataIdMap entries have no numeric id');
  } finally {
    backend.disposeData(probe.dataId);
  }
  checked.add(backend);
}

/** The memory the backend's tensors live in (its emscripten module's). */
export function heapMemory(backend: BackendWasm): WebAssembly.Memory {
  const memory = internals(backend).wasm.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) throw new WasmInternalsError('backend.wasm.asm.memory is not a WebAssembly.Memory');
  return memory;
}

/** Heap memory outside any tensor (the module's malloc and free): blocks pmoe keeps between operations. */
export function heapBlocks(backend: BackendWasm): { malloc(bytes: number): number; free(ptr: number): void } {
  const wasm = internals(backend).wasm as { _malloc: (bytes: number) => number; _free: (ptr: number) => void };
  return { malloc: (bytes) => wasm._malloc(bytes) >>> 0, free: (ptr) => wasm._free(ptr) }; // >>> 0: malloc's result is signed above 2 GB
}

/** The module-side id of a tensor's data. */
export function moduleDataId(backend: BackendWasm, info: tf.TensorInfo): number {
  const data = backend.dataIdMap.get(info.dataId);
  if (data === undefined) throw new Error('moduleDataId: the tensor is not (or no longer) on this backend');
  return data.id;
}

/**
 * Unregisters a tensor made over part of another's memory (backend.makeOutput with a memory
 * offset) without freeing that memory: its base owns it, and backend.disposeData would free an
 * interior pointer. The module's disposal also deletes any XNNPACK operator cached under its id.
 */
export function releaseView(backend: BackendWasm, info: tf.TensorInfo): void {
  const data = backend.dataIdMap.get(info.dataId);
  if (data == null) return;
  backend.wasm.tfjs.disposeData(data.id);
  backend.dataIdMap.delete(info.dataId);
}

/** The module's BatchMatMul entry, as tfjs's kernel binds it: operands and output by module data id. */
export type WasmBatchMatMul = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: number,
  transposeB: number,
  outId: number,
) => void;

const batchMatMuls = new WeakMap<object, WasmBatchMatMul | null>();

/** The module's own BatchMatMul, or null if it has none. */
export function wasmBatchMatMul(backend: BackendWasm): WasmBatchMatMul | null {
  const module = internals(backend).wasm as { cwrap?: (name: string, returns: null, args: string[]) => WasmBatchMatMul; _BatchMatMul?: unknown };
  let fn = batchMatMuls.get(module);
  if (fn === undefined) {
    fn =
      typeof module.cwrap === 'function' && typeof module._BatchMatMul === 'function'
        ? module.cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number'])
        : null;
    batchMatMuls.set(module, fn);
  }
  return fn;
}

/** Runs another kernel of the wasm backend directly (no engine, no tape): the caller owns the result. */
export function runWasmKernel(name: string, backend: BackendWasm, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): tf.TensorInfo {
  const kernel = tf.getKernel(name, 'wasm');
  if (kernel == null) throw new Error(`wasm kernel ${name} is not registered`);
  const out = kernel.kernelFunc({ inputs, backend, attrs });
  if (Array.isArray(out)) throw new Error(`wasm kernel ${name} returned several outputs`);
  return out;
}
