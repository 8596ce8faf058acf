/** `pmoe serve`'s HTTP side, without a browser: the page's files, the model, and nothing else. */
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders } from 'node:http';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { saveTwoLayerModel } from '../../src/models/pmoe-model-io.js';
import { TwoLayerPmoe } from '../../src/models/two-layer-pmoe.js';
import { exposureWarning, startServer, WEB_ROOT, type RunningServer } from '../../src/web/serve.js';

function get(
  url: string,
  path: string,
  method = 'GET',
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    // A raw path, so ../ reaches the server as written.
    const target = new URL(url);
    const req = request({ host: target.hostname, port: target.port, path, method, headers }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), body, headers: response.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('pmoe serve', () => {
  let dir = '';
  let server: RunningServer | undefined;

  before(async () => {
    await initEngine('cpu');
    dir = await mkdtemp(join(tmpdir(), 'pmoe-serve-'));
    const model = new TwoLayerPmoe({ patchCount: 16, patchDim: 784, experts: 2, neuronsPerExpert: 1, patchesPerExpert: 2 });
    await saveTwoLayerModel(model, join(dir, 'model'), { data: { source: 'mnist-patch', trainSize: 2 } });
    model.dispose();
    server = await startServer({ port: 0, model: join(dir, 'model') });
  });

  after(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves the page on loopback, and /model.json is the --model file', async () => {
    assert.match(server!.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await get(server!.url, '/');
    assert.equal(page.status, 200);
    assert.match(page.type, /text\/html/);
    assert.equal(page.body, await readFile(join(WEB_ROOT, 'index.html'), 'utf8'));
    const script = await get(server!.url, '/dist/app.js', 'HEAD');
    assert.equal(script.status, 200);
    assert.match(script.type, /javascript/);
    const model = await get(server!.url, '/model.json');
    assert.equal(model.status, 200);
    assert.equal(model.body, await readFile(join(dir, 'model', 'pmoe-model.json'), 'utf8'));
  });

  it('answers 404 outside web/, 405 to anything but GET and HEAD', async () => {
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/..%2fpackage.json', '/data/../../package.json', '/nothing.html']) {
      const response = await get(server!.url, path);
      assert.ok(response.status === 404 || response.status === 403, `${path}: ${response.status}`);
      assert.doesNotMatch(response.body, /"name": "pmoe"/);
    }
    assert.equal((await get(server!.url, '/', 'POST')).status, 405);
  });

  it('sends nosniff and a Content-Security-Policy with every answer', async () => {
    for (const path of ['/', '/dist/app.js', '/model.json', '/nothing.html']) {
      const response = await get(server!.url, path);
      assert.equal(response.headers['x-content-type-options'], 'nosniff', path);
      assert.match(String(response.headers['content-security-policy']), /default-src 'self'.*object-src 'none'.*frame-ancestors 'none'/, path);
    }
  });

  it('answers only requests whose Host names this machine (no DNS rebinding)', async () => {
    const port = server!.port;
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`, '127.0.0.1']) {
      assert.equal((await get(server!.url, '/', 'GET', { host })).status, 200, host);
    }
    for (const host of [`attacker.example:${port}`, 'localhost.attacker.example', `127.0.0.1.nip.io:${port}`]) {
      const response = await get(server!.url, '/model.json', 'GET', { host });
      assert.equal(response.status, 403, host);
      assert.doesNotMatch(response.body, /pmoe-two-layer/, host);
    }
  });

  it('serves the model it validated at start, whatever the file becomes later', async () => {
    const path = join(dir, 'model', 'pmoe-model.json');
    const served = await readFile(path, 'utf8');
    const secret = join(dir, 'secret.txt');
    await writeFile(secret, 'root:x:0:0:secret\n');
    await rename(path, `${path}.old`);
    await symlink(secret, path);
    try {
      const model = await get(server!.url, '/model.json');
      assert.equal(model.status, 200);
      assert.equal(model.body, served);
    } finally {
      await rm(path);
      await rename(`${path}.old`, path);
    }
  });

  it('does not follow symbolic links inside web/', async () => {
    const root = join(dir, 'web');
    await mkdir(join(root, 'dist'), { recursive: true });
    await mkdir(join(root, 'data'));
    await copyFile(join(WEB_ROOT, 'index.html'), join(root, 'index.html'));
    await writeFile(join(root, 'dist', 'app.js'), '// page script\n');
    await copyFile(join(dir, 'model', 'pmoe-model.json'), join(root, 'data', 'pmoe-model.json'));
    await writeFile(join(dir, 'outside.txt'), 'outside the web folder\n');
    await symlink(join(dir, 'outside.txt'), join(root, 'leak.txt'));
    await symlink(dir, join(root, 'up'));
    await symlink(join(root, 'index.html'), join(root, 'alias.html'));
    const own = await startServer({ port: 0, webRoot: root });
    try {
      assert.equal((await get(own.url, '/dist/app.js')).status, 200);
      for (const path of ['/leak.txt', '/up/outside.txt', '/up/web/index.html', '/alias.html']) {
        const response = await get(own.url, path);
        assert.equal(response.status, 404, path);
        assert.doesNotMatch(response.body, /outside the web folder|<html/, path);
      }
    } finally {
      await own.close();
    }
  });

  it('warns when --host reaches beyond this machine', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.20']) assert.match(exposureWarning(host) ?? '', /warning: --host .* not only to this machine/, host);
    for (const host of ['127.0.0.1', 'localhost', '::1']) assert.equal(exposureWarning(host), undefined, host);
  });

  it('refuses to start on a bad model, naming it', async () => {
    await assert.rejects(startServer({ port: 0, model: join(dir, 'absent') }), /absent does not exist/);
    const good = JSON.parse(await readFile(join(dir, 'model', 'pmoe-model.json'), 'utf8')) as { weights: Record<string, { base64: string }> };
    const nan = structuredClone(good);
    const bytes = Buffer.from(nan.weights.experts.base64, 'base64');
    bytes.writeFloatLE(Number.NaN, 0);
    nan.weights.experts.base64 = bytes.toString('base64');
    const truncated = structuredClone(good);
    truncated.weights.routers.base64 = truncated.weights.routers.base64.slice(0, -6);
    for (const [name, file, message] of [
      ['nan.json', nan, /weights\.experts: value 0 is NaN/],
      ['truncated.json', truncated, /weights\.routers: base64 is not valid base64/],
    ] as const) {
      await writeFile(join(dir, name), JSON.stringify(file));
      await assert.rejects(startServer({ port: 0, model: join(dir, name) }), message, name);
    }
    await symlink('/dev/zero', join(dir, 'zero.json'));
    await assert.rejects(startServer({ port: 0, model: join(dir, 'zero.json') }), /zero\.json: is a character device/);
  });
});
