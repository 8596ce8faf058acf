/**
 * `pmoe serve`: the interactive page (web/) on a local HTTP server. Static files only, plus
 * `/model.json`: the model given with --model, else the page's default model, read and validated
 * once at start and served from memory. Binds to loopback by default; GET and HEAD only; nothing
 * outside web/ is reachable, symbolic links inside it are not followed, and a request must name
 * this machine in its Host header (a page on another site cannot reach the server through a
 * DNS name rebound to 127.0.0.1).
 */
import { constants, createReadStream } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
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

// The page loads its own script, style sheet and model only; SVG and style attributes are drawn by the script.
// Its training worker is started from a Blob URL of its own script, compiles WebAssembly (tfjs's wasm backend,
// pmoe's kernels) and fetches the wasm binary from a Blob URL.
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src blob:; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS: OutgoingHttpHeaders = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'referrer-policy': 'no-referrer',
};

function send(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  response.end(text);
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1']);
const ANY_ADDRESS = new Set(['0.0.0.0', '::', '']);

/** A warning for a --host that other machines can reach, or undefined for a loopback address. */
export function exposureWarning(host: string): string | undefined {
  if (LOOPBACK_NAMES.has(host) || host.startsWith('127.')) return undefined;
  const reach = ANY_ADDRESS.has(host) ? 'every network this machine is on' : `the network of ${host}`;
  return `warning: --host ${host} serves the page and the model to ${reach}, not only to this machine; use --host 127.0.0.1 (the default) unless that is intended`;
}

/**
 * Whether a Host header names this server: localhost, an IP address (no DNS name can be rebound
 * to one) or the host it was started on. Anything else is a page of another site that had its
 * DNS name point here.
 */
function hostAllowed(header: string | undefined, boundHost: string): boolean {
  if (!header) return false;
  let hostname: string;
  try {
    hostname = new URL(`http://${header}/`).hostname.toLowerCase();
  } catch {
    return false;
  }
  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  return LOOPBACK_NAMES.has(bare) || isIP(bare) !== 0 || bare === boundHost.toLowerCase();
}

/** Starts the server; the model is read and validated first, so a bad --model fails before listening. */
export async function startServer(options: ServeOptions = {}): Promise<RunningServer> {
  // The real path of web/: every file served must have this prefix with no link on the way.
  const given = resolve(options.webRoot ?? WEB_ROOT);
  const bundle = join(given, 'dist', 'app.js');
  try {
    await stat(bundle);
  } catch {
    throw new Error(`the page's script ${bundle} is missing: run npm run build (it bundles src/web/app.ts with esbuild)`);
  }
  const root = await realpath(given);
  // Served from memory as validated: replacing the file later changes nothing until a restart.
  const { path: modelPath, text: modelText } = await readPmoeModelFile(options.model ?? join(root, 'data', 'pmoe-model.json'));
  const modelBytes = Buffer.from(modelText, 'utf8');
  const host = options.host ?? '127.0.0.1';

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    if (!hostAllowed(request.headers.host, host)) return send(response, 403, 'unknown Host: pmoe serve answers requests for localhost or an IP address only');
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
      response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': TYPES['.json'], 'cache-control': 'no-store', 'content-length': modelBytes.length });
      return response.end(request.method === 'HEAD' ? undefined : modelBytes);
    }
    const file = normalize(join(root, pathname.endsWith('/') ? `${pathname}index.html` : pathname));
    if (file !== root && !file.startsWith(root + sep)) return send(response, 403, 'outside the web folder');
    // A link anywhere on the way makes the real path differ; O_NOFOLLOW covers a file swapped for a link since.
    const real = await realpath(file).catch(() => undefined);
    if (real !== file) return send(response, 404, 'not found');
    const opened = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => undefined);
    if (!opened) return send(response, 404, 'not found');
    const info = await opened.stat();
    if (!info.isFile()) {
      await opened.close();
      return send(response, 404, 'not found');
    }
    response.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': info.size,
      'cache-control': 'no-cache',
    });
    if (request.method === 'HEAD') {
      await opened.close();
      return response.end();
    }
    createReadStream('', { fd: opened, start: 0, end: Math.max(0, info.size - 1) }).pipe(response);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      // The cause goes to the terminal; the client learns nothing about paths or the machine.
      process.stderr.write(`pmoe serve: ${request.method} ${request.url}: ${error instanceof Error ? error.message : String(error)}\n`);
      if (!response.headersSent) send(response, 500, 'internal error');
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
