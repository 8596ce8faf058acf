import { cpus, loadavg, platform, release } from 'node:os';
import { tf } from '../src/engine/backend.js';
import { gemmThreads } from '../src/kernels/gemm-threads.js';

export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly os: string;
  readonly node: string;
  readonly tfjs: string;
  readonly backend: string;
  /** Threads pmoe's convolution and large expert products use (kernels/gemm-threads.ts); tfjs's own kernels run on one. */
  readonly threads: number;
  /** 1-minute load average when the run started: a busy machine makes every figure noisier. */
  readonly loadAverage: number;
}

export function describeMachine(): MachineInfo {
  const cores = cpus();
  return {
    cpu: cores[0]?.model.trim() ?? 'unknown',
    cores: cores.length,
    os: `${platform()} ${release()}`,
    node: process.version,
    tfjs: tf.version_core,
    backend: tf.getBackend(),
    threads: tf.getBackend() === 'wasm' && gemmThreads() !== null ? 2 : 1,
    loadAverage: currentLoad(),
  };
}

/** The 1-minute load average, rounded to 0.01. */
export function currentLoad(): number {
  return Math.round(loadavg()[0] * 100) / 100;
}
