import cliProgress from 'cli-progress';

/** A progress display on stderr: a bar on a terminal, a line every few seconds otherwise. */
export interface Progress {
  /** `etaSeconds`: the caller's estimate of the time left (a sweep knows its runs); else one from the pace so far. */
  update(done: number, label?: string, etaSeconds?: number): void;
  stop(): void;
}

const seconds = (value: number) => (Number.isFinite(value) ? `${Math.round(value)} s` : '?');

export function startProgress(total: number, title: string, quiet = false): Progress {
  if (quiet) return { update() {}, stop() {} };
  const started = Date.now();
  const eta = (done: number, given?: number) => given ?? (done > 0 ? ((Date.now() - started) / 1000) * ((total - done) / done) : NaN);
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${title} [{bar}] {value}/{total} {label} eta {eta}`, stream: process.stderr },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { label: '', eta: '?' });
    return { update: (done, label = '', etaSeconds) => bar.update(done, { label, eta: seconds(eta(done, etaSeconds)) }), stop: () => bar.stop() };
  }
  let lastPrint = 0;
  return {
    update(done, label = '', etaSeconds) {
      const now = Date.now();
      if (now - lastPrint < 5000 && done < total) return;
      lastPrint = now;
      const elapsed = (now - started) / 1000;
      process.stderr.write(`${title}: ${done}/${total} ${label} (${elapsed.toFixed(0)} s, eta ${seconds(eta(done, etaSeconds))})\n`);
    },
    stop() {},
  };
}
