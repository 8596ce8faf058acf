import { arch, cpus, platform, release, totalmem } from 'node:os';

/**
 * The machine that runs `pmoe report`, read when the report is made. Results files do not record
 * where their runs ran, so this is only the runs' machine when both happened on the same one.
 */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly platform: string;
  readonly release: string;
  readonly arch: string;
  readonly node: string;
  readonly memoryGiB: number;
}

export function machineAtReportTime(): MachineInfo {
  const cores = cpus();
  return {
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    cores: cores.length,
    platform: platform(),
    release: release(),
    arch: arch(),
    node: process.version,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  };
}
