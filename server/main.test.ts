import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { startStockwire } from './main.js';

const ADMIN = 'main-test-admin-token-123';

describe('startStockwire (ROLE=api, embedded storage)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'stockwire-main-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  const config = loadConfig({ METRICS_PORT: '0', PORT: '0', ROLE: 'api', DATA_DIR: dataDir, ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'silent' });

  it('serves the API on the actual port and keeps data under DATA_DIR across restarts', async () => {
    const first = await startStockwire(config);
    let secretKey: string;
    try {
      expect(first.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(first.wsUrl).toBeUndefined();
      expect(await (await fetch(`${first.apiUrl}/readyz`)).json()).toEqual({ status: 'ready' });
      const merchant = await fetch(`${first.apiUrl}/v1/merchants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Persisted' }),
      });
      secretKey = ((await merchant.json()) as { secretKey: string }).secretKey;
      const put = await fetch(`${first.apiUrl}/v1/stock/KEPT`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ onHand: 42 }),
      });
      expect(put.status).toBe(200);
    } finally {
      await first.close();
    }
    await expect(fetch(`${first.apiUrl}/healthz`)).rejects.toThrow();

    const second = await startStockwire(config);
    try {
      // PGlite does not lock its files: a second process on the same DATA_DIR is refused, not let in to corrupt it.
      await expect(startStockwire(config)).rejects.toThrow(/DATA_DIR .* is in use by another Stockwire process/);
      const read = await fetch(`${second.apiUrl}/v1/stock/KEPT`, { headers: { authorization: `Bearer ${secretKey}` } });
      expect(await read.json()).toMatchObject({ sku: 'KEPT', onHand: 42, version: 1 });
    } finally {
      await second.close();
    }
  });
});

describe('stockwire CLI', () => {
  it('stops on bad configuration with one line naming the variable', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'server/cli.ts', 'serve'], {
      env: { ...process.env, PORT: 'eighty', LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^stockwire: Invalid PORT="eighty"/);
    expect(result.stdout).toBe('');
  });

  it('says in one line when storage cannot be reached', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'server/cli.ts', 'serve'], {
      env: { ...process.env, PORT: '0', ROLE: 'api', DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^stockwire: could not start: /);
  });
});
