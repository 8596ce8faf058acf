import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { initEngine, tf } from '../../src/engine/backend.js';
import { checkWasmInternals, heapMemory, WasmInternalsError } from '../../src/kernels/wasm-internals.js';

/** The real backend with some members replaced (its prototype keeps the rest). */
function doctored(backend: BackendWasm, members: Record<string, unknown>): BackendWasm {
  return Object.assign(Object.create(backend) as BackendWasm, members);
}

describe('the wasm backend internals adapter (kernels/wasm-internals.ts)', () => {
  it('passes its start-up check on the installed tfjs, and finds the heap', async () => {
    await initEngine('wasm');
    const backend = tf.backend() as BackendWasm;
    checkWasmInternals(backend);
    const t = tf.tensor1d([1, 2, 3, 4]);
    const at = backend.getMemoryOffset(t.dataId);
    assert.deepEqual(Array.from(new Float32Array(heapMemory(backend).buffer, at, 4)), [1, 2, 3, 4]);
    t.dispose();
  });

  it('fails with what moved and the installed versions where the internals differ', async () => {
    await initEngine('wasm');
    const backend = tf.backend() as BackendWasm;
    const versions = new RegExp(`installed: tfjs-core ${tf.version_core}`);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ wasm: Object.assign(Object.create(backend.wasm), { asm: {} }) }, /backend\.wasm\.asm\.memory is not a WebAssembly\.Memory/],
      [{ wasm: Object.assign(Object.create(backend.wasm), { tfjs: {} }) }, /backend\.wasm\.tfjs\.disposeData is not a function/],
      [{ dataIdMap: {} }, /backend\.dataIdMap is not a map/],
      [{ getMemoryOffset: (dataId: object) => backend.getMemoryOffset(dataId) + 4 }, /heap view is not at its memory offset/],
    ];
    for (const [members, what] of cases) {
      const before = backend.numDataIds();
      assert.throws(
        () => checkWasmInternals(doctored(backend, members)),
        (error: Error) =>
          error instanceof WasmInternalsError &&
          what.test(error.message) &&
          versions.test(error.message) &&
          /rely on internals of @tensorflow\/tfjs-backend-wasm 4\.22/.test(error.message),
      );
      assert.equal(backend.numDataIds(), before, 'the probe tensor freed');
    }
  });
});
