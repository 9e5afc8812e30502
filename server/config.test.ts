import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

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
