import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadUws } from './uws.js';

/**
 * The loader picks the native uWebSockets.js build for this Node and C library, never the
 * JavaScript fallback, and refuses to start in one line when no build fits.
 */
const glibc = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
const atLeast238 = glibc !== undefined && Number(glibc.split('.')[1]) >= 38 && glibc.startsWith('2.');
// The upstream build where glibc allows it (any supported Node), else the v20.30 build (Node 20 on glibc < 2.38).
const expected = atLeast238 ? '@btc-vision/uwebsockets.js@' : '@trufflesuite/uws-js-unofficial@';

/** What a fresh Node process loads, with `env` on top of this one's, as `{ build, native }`. */
function loadInChild(env: Record<string, string>): { build: string; native: boolean } {
  const script =
    "const { loadUws } = await import('./server/realtime/uws.ts'); const { uws, build } = loadUws();" +
    "console.log(JSON.stringify({ build: build.name, native: Function.prototype.toString.call(uws.App).includes('[native code]') }));";
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as { build: string; native: boolean };
}

describe('uWebSockets.js loader', () => {
  it(`loads the native ${expected}… build on Node ${process.versions.node} with glibc ${glibc ?? 'none'}`, () => {
    const { uws, build } = loadUws();
    expect(build.name.startsWith(expected)).toBe(true);
    expect(build.file.endsWith(`uws_${process.platform}_${process.arch}_${process.versions.modules}.node`)).toBe(true);
    // The fallback's App is a JavaScript function; the addon's is native code.
    expect(Function.prototype.toString.call(uws.App)).toContain('[native code]');
  });

  it('ignores UWS_USE_FALLBACK: still the native build', () => {
    for (const value of ['1', 'true']) {
      const loaded = loadInChild({ UWS_USE_FALLBACK: value });
      expect(loaded.native).toBe(true);
      expect(loaded.build.startsWith(expected)).toBe(true);
    }
  });

  it('refuses to start in one line naming Node, glibc and the fix when no native build loads', () => {
    const result = spawnSync(
      process.execPath,
      ['--import', './test/support/no-native-addons.mjs', '--import', 'tsx', 'server/cli.ts', 'serve'],
      {
        env: { ...process.env, ROLE: 'realtime', WS_PORT: '0', DATA_DIR: 'memory://', DATABASE_URL: '', REDIS_URL: '', LOG_LEVEL: 'silent', UWS_USE_FALLBACK: '1' },
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`Node ${process.versions.node}`);
    expect(lines[0]).toContain(glibc === undefined ? 'no glibc' : `glibc ${glibc}`);
    expect(lines[0]).toMatch(/Fix: run Node 22 or 24 .* glibc 2\.38 or newer/);
  });
});
