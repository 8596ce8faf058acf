/**
 * A Node built-in module, fetched at run time (process.getBuiltinModule, Node >= 20.16) rather
 * than imported, so that the browser bundle of the interactive page, which reaches the engine
 * through the model code, neither needs nor breaks on it. undefined outside Node.
 */
export function nodeBuiltin<T>(id: string): T | undefined {
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
  return get ? (get(id) as T) : undefined;
}
