import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { widgetRoute } from './widget-route.js';

describe('GET /widget.js', () => {
  let dir: string;
  let file: string;
  const apps: FastifyInstance[] = [];

  async function appFor(publicWsUrl: string): Promise<FastifyInstance> {
    const app = Fastify();
    await app.register(widgetRoute, { publicWsUrl, file });
    apps.push(app);
    return app;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stockwire-widget-'));
    file = join(dir, 'widget.js');
    await writeFile(file, '!function(){console.log("bundle")}();\n');
  });

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the bundle with the configured socket address baked in, cacheable, with an ETag', async () => {
    const app = await appFor('wss://ws.example.com');
    const response = await app.inject({ method: 'GET', url: '/widget.js' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(response.headers['cache-control']).toMatch(/^public, max-age=\d+/);
    expect(response.headers['cross-origin-resource-policy']).toBe('cross-origin');
    expect(response.headers.etag).toMatch(/^"[\w-]+"$/);
    expect(response.body).toBe('window.__stockwireWs="wss://ws.example.com";\n!function(){console.log("bundle")}();\n');
  });

  it('answers 304 to a matching If-None-Match (strong, weak or in a list) and 200 otherwise', async () => {
    const app = await appFor('ws://127.0.0.1:9501');
    const { etag } = (await app.inject({ url: '/widget.js' })).headers as { etag: string };
    for (const header of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const response = await app.inject({ url: '/widget.js', headers: { 'if-none-match': header } });
      expect(response.statusCode, header).toBe(304);
      expect(response.body).toBe('');
      expect(response.headers.etag).toBe(etag);
      expect(response.headers['cache-control']).toMatch(/max-age/);
    }
    expect((await app.inject({ url: '/widget.js', headers: { 'if-none-match': '"stale"' } })).statusCode).toBe(200);
  });

  it('gives each configuration its own ETag, and the same ETag for the same configuration', async () => {
    const a = (await (await appFor('ws://a.example:1')).inject({ url: '/widget.js' })).headers.etag;
    const b = (await (await appFor('ws://b.example:1')).inject({ url: '/widget.js' })).headers.etag;
    const a2 = (await (await appFor('ws://a.example:1')).inject({ url: '/widget.js' })).headers.etag;
    expect(a).not.toBe(b);
    expect(a2).toBe(a);
  });

  it('sends gzip when the client accepts it, and not when q=0', async () => {
    const app = await appFor('ws://127.0.0.1:9501');
    const zipped = await app.inject({ url: '/widget.js', headers: { 'accept-encoding': 'br, gzip;q=0.8' } });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers.vary).toMatch(/accept-encoding/i);
    expect(gunzipSync(zipped.rawPayload).toString()).toContain('window.__stockwireWs="ws://127.0.0.1:9501"');
    const refused = await app.inject({ url: '/widget.js', headers: { 'accept-encoding': 'gzip;q=0, identity' } });
    expect(refused.headers['content-encoding']).toBeUndefined();
  });

  it('escapes the socket address as a JS string, so configuration cannot inject script', async () => {
    const app = await appFor('ws://x.example/"+alert(1)+"</script>');
    const response = await app.inject({ url: '/widget.js' });
    const firstLine = response.body.split('\n')[0]!;
    expect(firstLine).toBe(`window.__stockwireWs=${JSON.stringify('ws://x.example/"+alert(1)+"</script>')};`);
  });

  it('picks up a rebuilt bundle without a restart (new ETag)', async () => {
    const app = await appFor('ws://127.0.0.1:9501');
    const before = await app.inject({ url: '/widget.js' });
    await writeFile(file, '!function(){console.log("rebuilt")}();\n');
    const later = new Date(Date.now() + 5000);
    await utimes(file, later, later);
    const after = await app.inject({ url: '/widget.js' });
    expect(after.body).toContain('rebuilt');
    expect(after.headers.etag).not.toBe(before.headers.etag);
  });

  it('answers HEAD with the headers and no body', async () => {
    const app = await appFor('ws://127.0.0.1:9501');
    const response = await app.inject({ method: 'HEAD', url: '/widget.js' });
    expect(response.statusCode).toBe(200);
    expect(response.headers.etag).toBeDefined();
    expect(response.body).toBe('');
  });
});
