/**
 * `pmoe serve`: the interactive page (web/) on a local HTTP server. Static files only, plus
 * `/model.json`: the model given with --model, else the page's default model. Binds to loopback
 * by default; GET and HEAD only; nothing outside web/ is reachable.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readPmoeModelFile } from '../models/pmoe-model-io.js';

/** web/ of this package: from dist/src/web/serve.js, three folders up. */
export const WEB_ROOT = resolve(fileURLToPath(new URL('../../../web', import.meta.url)));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
};

export interface ServeOptions {
  /** 0 picks a free port. */
  readonly port?: number;
  readonly host?: string;
  /** A model saved by `pmoe train --save-model` (folder or file); default web/data/pmoe-model.json. */
  readonly model?: string;
  readonly webRoot?: string;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly modelPath: string;
  close(): Promise<void>;
}

function send(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  response.end(text);
}

/** Starts the server; the model is read and validated first, so a bad --model fails before listening. */
export async function startServer(options: ServeOptions = {}): Promise<RunningServer> {
  const root = resolve(options.webRoot ?? WEB_ROOT);
  const bundle = join(root, 'dist', 'app.js');
  try {
    await stat(bundle);
  } catch {
    throw new Error(`the page's script ${bundle} is missing: run npm run build (it bundles src/web/app.ts with esbuild)`);
  }
  const { path: modelPath } = await readPmoeModelFile(options.model ?? join(root, 'data', 'pmoe-model.json'));
  const host = options.host ?? '127.0.0.1';

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      return send(response, 405, 'only GET and HEAD');
    }
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    } catch {
      return send(response, 400, 'bad path');
    }
    if (pathname === '/model.json') {
      // Read on each request, so a model retrained into the same folder shows on reload.
      const text = await readFile(modelPath);
      response.writeHead(200, { 'content-type': TYPES['.json'], 'cache-control': 'no-store', 'content-length': text.length });
      return response.end(request.method === 'HEAD' ? undefined : text);
    }
    const file = normalize(join(root, pathname.endsWith('/') ? `${pathname}index.html` : pathname));
    if (file !== root && !file.startsWith(root + sep)) return send(response, 403, 'outside the web folder');
    let size: number;
    try {
      const info = await stat(file);
      if (!info.isFile()) return send(response, 404, 'not found');
      size = info.size;
    } catch {
      return send(response, 404, 'not found');
    }
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': size, 'cache-control': 'no-cache' });
    if (request.method === 'HEAD') return response.end();
    createReadStream(file).pipe(response);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) send(response, 500, String(error));
      else response.destroy();
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8765, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    modelPath,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections();
        server.close(() => resolveClose());
      }),
  };
}
