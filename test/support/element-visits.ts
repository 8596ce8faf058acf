/**
 * Counts the array elements that Array methods, spreads and for-of loops visit while `body` runs:
 * a measure of work that does not depend on the machine, so a test can tell linear from quadratic
 * without timing anything. Hand-written because it patches the built-ins for the duration of a
 * synchronous call; nothing else runs meanwhile.
 */
const COUNTED = [
  'indexOf',
  'lastIndexOf',
  'includes',
  'filter',
  'map',
  'forEach',
  'reduce',
  'some',
  'every',
  'find',
  'findIndex',
  'flatMap',
  'slice',
  'concat',
  'join',
  'sort',
] as const;

export function countElementVisits(body: () => void): number {
  let visits = 0;
  const prototype = Array.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const originals = COUNTED.map((name) => prototype[name]);
  // Spreads and for-of go through %ArrayIteratorPrototype%.next once this is replaced (V8 drops its fast path).
  const iterator = Object.getPrototypeOf([][Symbol.iterator]()) as { next: () => unknown };
  const next = iterator.next;
  COUNTED.forEach((name, i) => {
    prototype[name] = function (this: unknown[], ...args: unknown[]) {
      visits += this.length;
      return originals[i].apply(this, args);
    };
  });
  iterator.next = function (this: unknown) {
    visits++;
    return next.call(this);
  };
  try {
    body();
  } finally {
    COUNTED.forEach((name, i) => (prototype[name] = originals[i]));
    iterator.next = next;
  }
  return visits;
}
