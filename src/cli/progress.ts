import cliProgress from 'cli-progress';

/** A progress display on stderr: a bar on a terminal, a line every few seconds otherwise. */
export interface Progress {
  update(done: number, label?: string): void;
  stop(): void;
}

export function startProgress(total: number, title: string, quiet = false): Progress {
  if (quiet) return { update() {}, stop() {} };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${title} [{bar}] {value}/{total} {label} eta {eta_formatted}`, stream: process.stderr, etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { label: '' });
    return { update: (done, label = '') => bar.update(done, { label }), stop: () => bar.stop() };
  }
  const started = Date.now();
  let lastPrint = 0;
  return {
    update(done, label = '') {
      const now = Date.now();
      if (now - lastPrint < 5000 && done < total) return;
      lastPrint = now;
      const elapsed = (now - started) / 1000;
      const eta = done > 0 ? (elapsed * (total - done)) / done : NaN;
      process.stderr.write(`${title}: ${done}/${total} ${label} (${elapsed.toFixed(0)} s, eta ${Number.isFinite(eta) ? eta.toFixed(0) : '?'} s)\n`);
    },
    stop() {},
  };
}
