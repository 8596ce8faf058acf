/**
 * Counts what the process asks of the WebGPU device, by wrapping dawn.node's methods (once):
 * queue submissions, compute dispatches and buffer maps (reads back to the host). Independent of
 * what pmoe's step says it does, so the profile checks the step rather than trusting it.
 */

export interface DeviceWork {
  submissions: number;
  dispatches: number;
  reads: number;
}

const total: DeviceWork = { submissions: 0, dispatches: 0, reads: 0 };
let installed = false;

function wrap(className: string, method: string, counter: keyof DeviceWork): void {
  const type = (globalThis as Record<string, unknown>)[className] as { prototype: Record<string, (...args: unknown[]) => unknown> } | undefined;
  if (!type) throw new Error(`gpu-counters: ${className} is not defined (start WebGPU first)`);
  const original = type.prototype[method];
  type.prototype[method] = function (this: unknown, ...args: unknown[]) {
    total[counter]++;
    return original.apply(this, args);
  };
}

/** Installs the counters (after WebGPU started) and returns a function giving the work done since this call. */
export function countDeviceWork(): () => DeviceWork {
  if (!installed) {
    wrap('GPUQueue', 'submit', 'submissions');
    wrap('GPUComputePassEncoder', 'dispatchWorkgroups', 'dispatches');
    wrap('GPUBuffer', 'mapAsync', 'reads');
    installed = true;
  }
  const start = { ...total };
  return () => ({ submissions: total.submissions - start.submissions, dispatches: total.dispatches - start.dispatches, reads: total.reads - start.reads });
}
