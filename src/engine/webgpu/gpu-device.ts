import { existsSync, readdirSync } from 'node:fs';

/** Whether this machine has a GPU device node (Linux); elsewhere assume it may. Cheap: lets `auto` skip Dawn on CPU-only machines. */
export function mayHaveGpu(): boolean {
  if (process.platform !== 'linux') return true;
  if (existsSync('/dev/nvidia0')) return true;
  try {
    return readdirSync('/dev/dri').some((name) => name.startsWith('renderD'));
  } catch {
    return false;
  }
}
