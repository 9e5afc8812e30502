import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RealtimeLimits } from '../config.js';
import { ConnectionLimits } from './connection-limits.js';

const limits: RealtimeLimits = {
  maxSubscriptions: 100,
  maxFrameBytes: 4096,
  idleTimeoutSeconds: 60,
  maxBackpressureBytes: 65536,
  maxMessagesPerSecond: 3,
  maxConnectionsPerIp: 2,
  maxNewSubscriptionsPerSecond: 10,
  maxNewSubscriptionsPerIpPerSecond: 15,
};

describe('connection limits', () => {
  let connectionLimits: ConnectionLimits;
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
    connectionLimits = new ConnectionLimits(limits);
  });
  afterEach(() => {
    connectionLimits.close();
    vi.useRealTimers();
  });

  it('counts sockets per IP up to the limit', () => {
    const ip = '203.0.113.1';
    expect(connectionLimits.atConnectionLimit(ip)).toBe(false);
    expect(connectionLimits.admit(ip)).toBe(true);
    expect(connectionLimits.admit(ip)).toBe(true);
    expect(connectionLimits.atConnectionLimit(ip)).toBe(true);
    expect(connectionLimits.admit(ip)).toBe(false);
    expect(connectionLimits.atConnectionLimit('203.0.113.2')).toBe(false);
    connectionLimits.closed(ip);
    expect(connectionLimits.atConnectionLimit(ip)).toBe(false);
  });

  it('answers the first frame over the message rate, drops the rest, and refills the next second', () => {
    const budgets = connectionLimits.newConnection();
    const verdicts = Array.from({ length: 5 }, () => connectionLimits.chargeMessage(budgets));
    expect(verdicts).toEqual(['allowed', 'allowed', 'allowed', 'refused', 'dropped']);
    expect(connectionLimits.messageRateRefusal).toBe('At most 3 messages per second.');
    vi.advanceTimersByTime(1000);
    expect(connectionLimits.chargeMessage(budgets)).toBe('allowed');
  });

  it('charges subscriptions to the connection and the IP, only when both allow', () => {
    const ip = '198.51.100.7';
    connectionLimits.admit(ip);
    connectionLimits.admit(ip);
    const first = connectionLimits.newConnection();
    const second = connectionLimits.newConnection();
    expect(connectionLimits.chargeSubscriptions(ip, first, 10)).toBeUndefined();
    expect(connectionLimits.chargeSubscriptions(ip, first, 1)).toMatch(/on a connection/);
    // The IP has 5 left: a refused charge of 6 spends nothing, so 5 still pass.
    expect(connectionLimits.chargeSubscriptions(ip, second, 6)).toMatch(/from one address/);
    expect(connectionLimits.chargeSubscriptions(ip, second, 5)).toBeUndefined();
    expect(connectionLimits.chargeSubscriptions(ip, second, 1)).toMatch(/from one address/);
    vi.advanceTimersByTime(1000);
    expect(connectionLimits.chargeSubscriptions(ip, second, 10)).toBeUndefined();
  });

  it('keeps a spent IP budget until its window ends, even when its sockets close and reopen', () => {
    const ip = '192.0.2.9';
    connectionLimits.admit(ip);
    const budgets = connectionLimits.newConnection();
    connectionLimits.chargeSubscriptions(ip, budgets, 10);
    connectionLimits.closed(ip);
    connectionLimits.admit(ip);
    expect(connectionLimits.chargeSubscriptions(ip, connectionLimits.newConnection(), 6)).toMatch(/from one address/);
  });
});
