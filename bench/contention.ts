import { readFileSync } from 'node:fs';

/**
 * How much CPU other processes (and other virtual machines, through steal time) took while the
 * benchmark ran: the machine's busy time from /proc/stat minus this process's and the PyTorch
 * peer's own CPU time, per second of wall time. 0 means the cores were ours; 1 means one whole
 * core was busy elsewhere on average. Linux only (null elsewhere).
 */
const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ: 100 on every mainstream Linux

function machineBusySeconds(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('cpu '));
    if (!line) return null;
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return (user + nice + system + irq + softirq + (steal ?? 0)) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

function ownSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

export interface ContentionMeter {
  /** Other work in cores, averaged over the time since the meter started; `peerSeconds` is the peer's CPU time over the same span. */
  otherCores(peerSeconds: number): number | null;
}

export function startContentionMeter(): ContentionMeter {
  const busy0 = machineBusySeconds();
  const own0 = ownSeconds();
  const wall0 = performance.now();
  return {
    otherCores(peerSeconds) {
      const busy1 = machineBusySeconds();
      if (busy0 === null || busy1 === null || !Number.isFinite(peerSeconds)) return null;
      const wall = (performance.now() - wall0) / 1e3;
      if (wall <= 0) return null;
      const other = busy1 - busy0 - (ownSeconds() - own0) - peerSeconds;
      return Math.max(0, Math.round((other / wall) * 100) / 100);
    },
  };
}
