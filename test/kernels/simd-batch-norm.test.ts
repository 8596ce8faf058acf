import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newSharedMemory } from '../../src/kernels/gemm-threads.js';
import { bindBatchNorm } from '../../src/kernels/simd-batch-norm.js';
import { freshRng } from '../support/random.js';

const [ROWS, CHANNELS, BLOCK] = [300, 12, 128];

/** Byte addresses of consecutive regions of `floats` floats each, after 64 bytes. */
const regions = (count: number, floats: number) => Array.from({ length: count }, (_, i) => 64 + i * floats * 4);

describe('the fused batch-norm passes (batch-norm.wat) against the separate ones', () => {
  for (const shared of [false, true]) {
    it(`affineRelu = affine then reluGrad, reluBlockSums = reluGrad then blockSums, to the bit (${shared ? 'shared' : 'plain'} memory)`, () => {
      const memory = shared ? newSharedMemory() : new WebAssembly.Memory({ initial: 16 });
      const kernels = bindBatchNorm(memory);
      assert.ok(kernels, 'the kernels bind');
      const size = ROWS * CHANNELS;
      const [u, v, dy, y, vectors, plain, fused, sums, fusedSums, dz, fusedDz] = regions(11, 3 * Math.ceil(ROWS / BLOCK) * CHANNELS + size);
      const floats = new Float32Array(memory.buffer);
      const rng = freshRng(`batch-norm kernels ${shared}`);
      // Zeros (both signs) and values on both sides of 0 reach every branch of the masks.
      const value = () => [0, -0, rng.normal(), rng.normal() * 1e3][rng.int(4)];
      for (const at of [u, v, dy, y]) for (let i = 0; i < size; i++) floats[at / 4 + i] = value();
      for (let i = 0; i < 4 * CHANNELS; i++) floats[vectors / 4 + i] = rng.normal();
      const at = (k: number) => vectors + 4 * k * CHANNELS;
      kernels.affine(ROWS, CHANNELS, u, at(0), v, at(1), at(2), at(3), plain);
      kernels.reluGrad(4 * size, plain, plain, plain);
      kernels.affineRelu(ROWS, CHANNELS, u, at(0), v, at(1), at(2), at(3), fused);
      const bits = (ptr: number, length: number) => new Uint32Array(memory.buffer, ptr, length);
      assert.deepEqual(bits(fused, size), bits(plain, size), 'affineRelu');
      kernels.reluGrad(4 * size, y, dy, dz);
      kernels.blockSums(ROWS, CHANNELS, BLOCK, u, at(0), dz, sums);
      kernels.reluBlockSums(ROWS, CHANNELS, BLOCK, u, at(0), dy, y, fusedDz, fusedSums);
      assert.deepEqual(bits(fusedDz, size), bits(dz, size), 'the masked gradient it writes');
      const partials = 3 * Math.ceil(ROWS / BLOCK) * CHANNELS;
      assert.deepEqual(bits(fusedSums, partials), bits(sums, partials), 'the block sums');
      assert.ok(
        new Float32Array(memory.buffer, sums, partials).some((s) => s !== 0),
        'sums that say something',
      );
    });
  }
});
