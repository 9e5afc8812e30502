import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, maskUrlCredentials } from './config.js';

function startupLine(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a configuration error');
}

describe('configuration errors', () => {
  it('never echo a secret setting', () => {
    const line = startupLine({ ADMIN_TOKEN: 'short-secret' });
    expect(line).toMatch(/^Invalid ADMIN_TOKEN/);
    expect(line).not.toContain('short-secret');
  });

  it('mask the password of a URL setting', () => {
    const line = startupLine({ REDIS_URL: 'http://admin:hunter2@cache:6379' });
    expect(line).toMatch(/^Invalid REDIS_URL/);
    expect(line).not.toContain('hunter2');
    expect(line).toContain('admin:***@cache');
    expect(startupLine({ DATABASE_URL: 'sqlite://u:p%40ss@db/x' })).not.toContain('p%40ss');
  });

  it('still echo ordinary values, so the line says what was wrong and what is allowed', () => {
    expect(startupLine({ PORT: 'eighty' })).toBe('Invalid PORT="eighty": must be a whole number from 0 to 65535');
    expect(startupLine({ WS_IDLE_TIMEOUT_SECONDS: '2.5' })).toBe('Invalid WS_IDLE_TIMEOUT_SECONDS="2.5": must be a whole number ≥ 8');
    expect(startupLine({ ROLE: 'worker' })).toBe('Invalid ROLE="worker": must be one of api, realtime, all');
    expect(startupLine({ HOST: '' })).toBe('Invalid HOST="": must not be empty');
  });

  it('hold every setting to its bounds', () => {
    expect(startupLine({ REDIS_KEY_PREFIX: 'x'.repeat(65) })).toMatch(/^Invalid REDIS_KEY_PREFIX="x+": must be at most 64 characters$/);
    expect(startupLine({ REDIS_KEY_PREFIX: 'shop{1}:' })).toMatch(/^Invalid REDIS_KEY_PREFIX="shop\{1\}:": must not contain braces or spaces/);
    expect(startupLine({ WS_THREADS: '257' })).toBe('Invalid WS_THREADS="257": must be a whole number from 1 to 256');
    expect(startupLine({ WS_THREAD_NICE: '20' })).toBe('Invalid WS_THREAD_NICE="20": must be a whole number from 0 to 19');
    expect(startupLine({ TRUST_PROXY_HOPS: '-1' })).toBe('Invalid TRUST_PROXY_HOPS="-1": must be a whole number from 0 to 10');
    expect(loadConfig({ WS_THREADS: '256', TRUST_PROXY_HOPS: '10', REDIS_KEY_PREFIX: 'x'.repeat(64) })).toMatchObject({ wsThreads: 256, redisKeyPrefix: 'x'.repeat(64) });
  });

  it('fill every unset setting with its default, as numbers where they are numbers', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8080);
    expect(config.realtime.idleTimeoutSeconds).toBe(120);
    expect(config.webhooks.allowPrivate).toBe(false);
    expect(config.databasePreparedStatements).toBe(true);
    expect(config.wsThreads).toBeGreaterThanOrEqual(1);
    expect(config.wsThreadNice).toBe(19);
    expect(loadConfig({ PORT: '0', WS_PORT: '9600', DATABASE_URL: '  ' })).toMatchObject({ port: 0, wsPort: 9600, databaseUrl: undefined });
  });
});

describe('maskUrlCredentials', () => {
  it('masks userinfo anywhere in a text, passwords with @ included', () => {
    expect(maskUrlCredentials('connect postgres://u:p@ss@db:5432/x failed')).toBe('connect postgres://u:***@db:5432/x failed');
    expect(maskUrlCredentials('redis://token@cache')).toBe('redis://***@cache');
    expect(maskUrlCredentials('redis://cache:6379')).toBe('redis://cache:6379');
  });
});

describe('REDIS_CLUSTER_NODES', () => {
  it('reads host:port lists, IPv6 hosts in brackets', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-b:7001,[::1]:7002' }).redisClusterNodes).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-b', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
    expect(loadConfig({}).redisClusterNodes).toBeUndefined();
  });

  it('refuses a bad list in one line naming the variable', () => {
    for (const bad of ['redis-a', 'redis-a:0', 'redis-a:7000,', 'redis://a:7000', 'a:70000']) {
      expect(() => loadConfig({ REDIS_CLUSTER_NODES: bad })).toThrow(new RegExp(`^Invalid REDIS_CLUSTER_NODES=${JSON.stringify(bad).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: must be host:port`));
    }
  });

  it('is a configuration error together with REDIS_URL', () => {
    const both = () => loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: '127.0.0.1:7000' });
    expect(both).toThrow(ConfigError);
    expect(both).toThrow(/^Invalid REDIS_CLUSTER_NODES: set either REDIS_URL .* or REDIS_CLUSTER_NODES .*, not both$/);
  });
});

describe('write path settings', () => {
  it('defaults to combining writes of a hot SKU and preparing the adjust statement, and reads both', () => {
    const defaults = loadConfig({});
    expect([defaults.http.writeCombineMaxItems, defaults.databasePreparedStatements]).toEqual([100, true]);
    const set = loadConfig({ WRITE_COMBINE_MAX_ITEMS: '1', DATABASE_PREPARED_STATEMENTS: 'false' });
    expect([set.http.writeCombineMaxItems, set.databasePreparedStatements]).toEqual([1, false]);
    expect(() => loadConfig({ WRITE_COMBINE_MAX_ITEMS: '0' })).toThrow(/^Invalid WRITE_COMBINE_MAX_ITEMS="0"/);
    expect(() => loadConfig({ DATABASE_PREPARED_STATEMENTS: 'yes' })).toThrow(/^Invalid DATABASE_PREPARED_STATEMENTS="yes"/);
  });
});

describe('AMQP_URL and AMQP_EXCHANGE', () => {
  it('reads both, with the documented default exchange', () => {
    expect(loadConfig({}).amqpUrl).toBeUndefined();
    expect(loadConfig({}).amqpExchange).toBe('stockwire');
    const config = loadConfig({ AMQP_URL: 'amqps://user:pw@mq.example:5671/vhost', AMQP_EXCHANGE: 'shop.events' });
    expect(config.amqpUrl).toBe('amqps://user:pw@mq.example:5671/vhost');
    expect(config.amqpExchange).toBe('shop.events');
  });

  it('refuses a bad AMQP_URL in one line that names the variable and never echoes the password', () => {
    for (const url of ['http://guest:s3cret@127.0.0.1:5672', 'amqp://guest:s3cret@[::1']) {
      const line = startupLine({ AMQP_URL: url });
      expect(line).toMatch(/^Invalid AMQP_URL=.*must be an amqp:\/\/ or amqps:\/\/ URL$/);
      expect(line).not.toContain('s3cret');
      expect(line.split('\n')).toHaveLength(1);
    }
  });

  it('refuses an exchange name the broker would refuse or reserves', () => {
    expect(() => loadConfig({ AMQP_EXCHANGE: 'amq.topic' })).toThrow(/AMQP_EXCHANGE.*reserved/);
    expect(() => loadConfig({ AMQP_EXCHANGE: 'has space' })).toThrow(/AMQP_EXCHANGE/);
  });
});

describe('VIEWERS_INTERVAL_MS and VIEWERS_EXPIRY_MS', () => {
  it('default to a frame every 2 s and counts that expire after 6 s, and read both', () => {
    expect(loadConfig({}).viewers).toEqual({ intervalMs: 2000, expiryMs: 6000 });
    expect(loadConfig({ VIEWERS_INTERVAL_MS: '500', VIEWERS_EXPIRY_MS: '1500' }).viewers).toEqual({ intervalMs: 500, expiryMs: 1500 });
  });

  it('refuses an expiry shorter than two intervals, in one line naming the variable', () => {
    expect(() => loadConfig({ VIEWERS_INTERVAL_MS: '2000', VIEWERS_EXPIRY_MS: '3000' })).toThrow(/^Invalid VIEWERS_EXPIRY_MS=3000: must be at least twice VIEWERS_INTERVAL_MS \(2000\)$/);
    expect(() => loadConfig({ VIEWERS_INTERVAL_MS: '10' })).toThrow(/^Invalid VIEWERS_INTERVAL_MS="10"/);
  });
});

describe('PUBLISH_INTERVAL_MS, PUBLISH_INTERVAL_MAX_MS and PUBLISH_THREAD_FRAMES_PER_SECOND', () => {
  it('default to 100 to 1,000 ms windows and 10,000 frames a second per thread, and read all three', () => {
    expect(loadConfig({}).folding).toEqual({ intervalMs: 100, maxIntervalMs: 1000, threadFramesPerSecond: 10_000 });
    expect(loadConfig({ PUBLISH_INTERVAL_MS: '0', PUBLISH_INTERVAL_MAX_MS: '100', PUBLISH_THREAD_FRAMES_PER_SECOND: '5000' }).folding).toEqual({
      intervalMs: 0,
      maxIntervalMs: 100,
      threadFramesPerSecond: 5000,
    });
  });

  it('refuses a frame rate of zero in one line naming the variable', () => {
    expect(() => loadConfig({ PUBLISH_THREAD_FRAMES_PER_SECOND: '0' })).toThrow(/^Invalid PUBLISH_THREAD_FRAMES_PER_SECOND="0"/);
    expect(() => loadConfig({ PUBLISH_INTERVAL_MAX_MS: '-1' })).toThrow(/^Invalid PUBLISH_INTERVAL_MAX_MS="-1"/);
  });
});
