/** module.register hooks for loaded-modules.ts: posts every resolved URL to the registering thread. */
import type { MessagePort } from 'node:worker_threads';

let port: MessagePort | undefined;

export function initialize(data: { port: MessagePort }): void {
  port = data.port;
}

export async function resolve(
  specifier: string,
  context: unknown,
  nextResolve: (specifier: string, context: unknown) => Promise<{ url: string }>,
): Promise<{ url: string }> {
  const result = await nextResolve(specifier, context);
  port?.postMessage(result.url);
  return result;
}
