/** `pmoe serve`'s HTTP side, without a browser: the page's files, the model, and nothing else. */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { saveTwoLayerPmoe } from '../../src/models/pmoe-model-io.js';
import { TwoLayerPmoe } from '../../src/models/two-layer-pmoe.js';
import { startServer, WEB_ROOT, type RunningServer } from '../../src/web/serve.js';

function get(url: string, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    // A raw path, so ../ reaches the server as written.
    const target = new URL(url);
    const req = request({ host: target.hostname, port: target.port, path, method }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), body }));
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
    await saveTwoLayerPmoe(model, join(dir, 'model'), { data: { source: 'mnist-patch', trainSize: 2 } });
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

  it('refuses to start on a bad model, naming it', async () => {
    await assert.rejects(startServer({ port: 0, model: join(dir, 'absent') }), /absent does not exist/);
  });
});
