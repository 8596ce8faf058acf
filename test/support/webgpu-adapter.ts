import { initEngine } from '../../src/engine/backend.js';
import { WebgpuUnavailable } from '../../src/engine/webgpu/dawn.js';

/**
 * Starts the WebGPU backend on the software adapter (SwiftShader) for tests. Returns why it cannot,
 * for `skip`, where SwiftShader is missing; with PMOE_REQUIRE_WEBGPU=1 (CI) that is a failure.
 */
export async function webgpuSkipReason(): Promise<string | undefined> {
  process.env.PMOE_WEBGPU_SOFTWARE ??= '1';
  try {
    await initEngine('webgpu');
    return undefined;
  } catch (error) {
    if (!(error instanceof WebgpuUnavailable) || process.env.PMOE_REQUIRE_WEBGPU === '1') throw error;
    return `no WebGPU adapter: ${error.message}`;
  }
}
