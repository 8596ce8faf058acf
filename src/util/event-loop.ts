/**
 * Lets the event loop turn once: timers, I/O and signal handlers (Ctrl-C) waiting behind long
 * synchronous work run now. Such work awaits this every so many items (a count, not a time, so
 * that how often it yields does not depend on the machine's speed).
 */
export function turnEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
