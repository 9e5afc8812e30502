import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repositoryRoot } from '../support/build.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait.js';

/**
 * The two packages as users get them: `npm pack` (which builds through `prepack`), each tarball
 * installed into an empty folder from the registry, the server with `--omit=dev` and started with
 * plain `node`, the SDK with `ws` receiving a live change in Node. Run apart from the other suites
 * (`npm run test:packages`), because packing rebuilds the `dist/` folders they read.
 */
const run = promisify(execFile);
const npm = (args: string[], cwd: string) => run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, timeout: 300_000, maxBuffer: 32 << 20 });
const adminToken = 'packages-test-admin-token-0123456789';

interface Packed {
  readonly filename: string;
  readonly files: ReadonlyArray<{ readonly path: string }>;
}

let work: string;
let sdk: Packed;
let server: Packed;
let node: ChildProcess | undefined;
let nodeErr = '';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'stockwire-packages-'));
  const { stdout } = await npm(['pack', '--workspace', 'sdk', '--workspace', 'server', '--pack-destination', work, '--json'], repositoryRoot);
  // prepack's build prints to stdout before npm's JSON.
  const packed = JSON.parse(stdout.slice(stdout.indexOf('\n[') + 1)) as Array<Packed & { name: string }>;
  sdk = packed.find((p) => p.name === 'stockwire')!;
  server = packed.find((p) => p.name === 'stockwire-server')!;
}, 300_000);

afterAll(async () => {
  node?.kill('SIGKILL');
  if (work) await rm(work, { recursive: true, force: true });
});

const paths = (packed: Packed) => packed.files.map((f) => f.path);
/** Sources, tests and benchmarks have no place in a tarball; `.d.ts` files do. */
const notShipped = (path: string) => /(^|\/)(test|tests|benchmarks?|examples)\//.test(path) || /\.test\./.test(path) || /(?<!\.d)\.tsx?$/.test(path);

describe('the stockwire tarball', () => {
  it('holds the ES modules and types of `.`, `./widget` and `./webhooks`, and nothing else of the repository', () => {
    const files = paths(sdk);
    for (const file of ['package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/widget/index.js', 'dist/widget/index.d.ts', 'dist/webhooks/index.js', 'dist/webhooks/index.d.ts']) {
      expect(files).toContain(file);
    }
    expect(files.filter(notShipped)).toEqual([]);
    expect(files.filter((f) => /server|widget\.js$|embed/.test(f))).toEqual([]);
  });
});

describe('the stockwire-server tarball', () => {
  it('holds the compiled server, its bin, the built widget.js and console, and no tests', () => {
    const files = paths(server);
    const expected = ['package.json', 'dist/cli.js', 'dist/index.js', 'dist/simulator/index.js', 'dist/simulator/index.d.ts', 'dist/widget.js', 'dist/console.js', 'dist/console.css'];
    for (const file of expected) expect(files).toContain(file);
    expect(files.filter(notShipped)).toEqual([]);
  });
});

describe('installed from the tarballs', () => {
  it('the server starts with plain node after --omit=dev, and the SDK in Node hears a live change', { timeout: 600_000 }, async () => {
    const serverDir = join(work, 'server-install');
    const sdkDir = join(work, 'sdk-install');
    await mkdir(serverDir);
    await mkdir(sdkDir);
    await writeFile(join(serverDir, 'package.json'), '{ "private": true }\n');
    await writeFile(join(sdkDir, 'package.json'), '{ "private": true, "type": "module" }\n');
    await Promise.all([
      // The server renders badge.html with the widget's own components: its stockwire is this build's.
      npm(['install', '--omit=dev', join(work, server.filename), join(work, sdk.filename)], serverDir),
      npm(['install', join(work, sdk.filename), 'ws'], sdkDir),
    ]);
    // Production needs no TypeScript loader or build tool.
    for (const tool of ['tsx', 'esbuild', 'typescript', 'rollup', 'vitest']) expect(existsSync(join(serverDir, 'node_modules', tool)), tool).toBe(false);
    // The SDK brings preact and nothing of the server.
    for (const server of ['fastify', 'pg', 'ioredis', '@electric-sql/pglite', 'uWebSockets.js']) expect(existsSync(join(sdkDir, 'node_modules', server)), server).toBe(false);

    const [port, wsPort] = [await freePort(), await freePort()];
    const api = `http://127.0.0.1:${port}`;
    // The bin as npm installed it (`npx stockwire serve`): plain node, with the flags of its first line.
    node = spawn(join(serverDir, 'node_modules/.bin/stockwire'), ['serve'], {
      cwd: serverDir,
      env: { PATH: process.env.PATH, PORT: String(port), WS_PORT: String(wsPort), METRICS_PORT: '0', WS_THREADS: '1', ADMIN_TOKEN: adminToken, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    node.stderr!.on('data', (chunk: Buffer) => (nodeErr += chunk.toString('utf8')));
    await waitFor(async () => {
      if (node!.exitCode !== null) throw new Error(`stockwire serve exited: ${nodeErr}`);
      return (await fetch(`${api}/healthz`).catch(() => undefined))?.status === 200;
    }, 60_000, 'the installed server');

    const widget = await fetch(`${api}/widget.js`);
    expect(widget.status).toBe(200);
    expect(await widget.text()).toContain('__stockwireWs');
    // The merchant console ships built too.
    for (const path of ['/console', '/console/console.js', '/console/console.css']) expect((await fetch(`${api}${path}`)).status, path).toBe(200);

    const created = await fetch(`${api}/v1/merchants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Package test shop' }),
    });
    expect(created.status).toBe(201);
    const keys = (await created.json()) as { publishableKey: string; secretKey: string };
    const setStock = (onHand: number) =>
      fetch(`${api}/v1/stock/PKG-1`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${keys.secretKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ onHand }),
      }).then((r) => r.status);
    expect(await setStock(10)).toBe(200);

    // A Node program of the user's own: prints the first view, then waits for the one with 2 left.
    await writeFile(
      join(sdkDir, 'listen.js'),
      `import { createStockClient } from 'stockwire';
import WebSocket from 'ws';
const client = createStockClient({ key: process.argv[2], apiUrl: process.argv[3], wsUrl: process.argv[4], WebSocket });
client.subscribe('PKG-1', (view) => {
  console.log(JSON.stringify(view));
  if (view.available === 2) { client.close(); process.exit(0); }
});
setTimeout(() => process.exit(2), 30000);
`,
    );
    const listener = spawn(process.execPath, ['listen.js', keys.publishableKey, api, `ws://127.0.0.1:${wsPort}`], { cwd: sdkDir, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let listenerErr = '';
    listener.stdout!.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').trim().split('\n')));
    listener.stderr!.on('data', (chunk: Buffer) => (listenerErr += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => listener.once('exit', resolve));

    await waitFor(() => lines.length > 0, 30_000, `the SDK's first view (${listenerErr})`);
    expect(JSON.parse(lines[0]!)).toMatchObject({ sku: 'PKG-1', status: 'in_stock', available: 10 });
    expect(await setStock(2)).toBe(200);
    expect(await exited, listenerErr).toBe(0);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ sku: 'PKG-1', status: 'low_stock', available: 2 });

    // The Node-only entry verifies a signature made the way the server makes it.
    const verify = `import { createHmac } from 'node:crypto';
import { verifyWebhook } from 'stockwire/webhooks';
const body = '{"id":"evt_1","type":"stock.sold_out","createdAt":"x","data":{}}';
const t = Math.floor(Date.now() / 1000);
const v1 = createHmac('sha256', 'whsec_x').update(t + '.' + body).digest('hex');
console.log(verifyWebhook('whsec_x', body, 't=' + t + ',v1=' + v1).id);`;
    expect((await run(process.execPath, ['--input-type=module', '-e', verify], { cwd: sdkDir })).stdout.trim()).toBe('evt_1');

    node.kill('SIGTERM');
    expect(await new Promise((resolve) => node!.once('exit', resolve))).toBe(0);
  });
});
