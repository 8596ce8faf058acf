const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;

/**
 * Until the returned function is called, SIGINT (Ctrl-C) or SIGTERM ends the process with
 * 128 + the signal's number (130 or 143, as a shell reports a process killed by it), after saying
 * on stderr that the command stopped and what `unwritten` describes. Handlers run between turns of
 * the event loop, so long computations must yield to it (trainModelAsync does, every 50 ms).
 * Files are appended synchronously or written atomically, so none is left half-written.
 */
export function exitOnSignals(command: string, unwritten: () => string): () => void {
  const handlers = Object.entries(SIGNAL_NUMBERS).map(([signal, number]) => {
    const handler = () => {
      process.stderr.write(`pmoe ${command}: stopped by ${signal}; ${unwritten()}\n`);
      process.exit(128 + number);
    };
    process.once(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}
