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
    expect(startupLine({ DATABASE_URL: 'mysql://u:p%40ss@db/x' })).not.toContain('p%40ss');
  });

  it('still echo ordinary values, so the line says what was wrong', () => {
    expect(startupLine({ PORT: 'eighty' })).toMatch(/^Invalid PORT="eighty"/);
  });
});

describe('maskUrlCredentials', () => {
  it('masks userinfo anywhere in a text, passwords with @ included', () => {
    expect(maskUrlCredentials('connect postgres://u:p@ss@db:5432/x failed')).toBe('connect postgres://u:***@db:5432/x failed');
    expect(maskUrlCredentials('redis://token@cache')).toBe('redis://***@cache');
    expect(maskUrlCredentials('redis://cache:6379')).toBe('redis://cache:6379');
  });
});
