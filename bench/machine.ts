import { cpus, loadavg, platform, release } from 'node:os';
import { tf } from '../src/engine/backend.js';

export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly os: string;
  readonly node: string;
  readonly tfjs: string;
  readonly backend: string;
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
    loadAverage: currentLoad(),
  };
}

/** The 1-minute load average, rounded to 0.01. */
export function currentLoad(): number {
  return Math.round(loadavg()[0] * 100) / 100;
}
