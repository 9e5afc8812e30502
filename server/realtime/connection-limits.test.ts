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
  maxRefusedFrames: 5,
  abuseWaitSeconds: 30,
};

describe('connection limits', () => {
  let connectionLimits: ConnectionLimits;
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
    connectionLimits = new ConnectionLimits(limits);
  });
  afterEach(() => {
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

  it('allows frames up to the message rate and refills the next second', () => {
    const budgets = connectionLimits.newConnection();
    const verdicts = Array.from({ length: 5 }, () => connectionLimits.chargeMessage(budgets));
    expect(verdicts).toEqual([true, true, true, false, false]);
    expect(connectionLimits.messageRateRefusal).toBe('At most 3 messages per second.');
    vi.advanceTimersByTime(1000);
    expect(connectionLimits.chargeMessage(budgets)).toBe(true);
  });

  it('tells a refusal once a second, drops the rest, and closes at WS_MAX_REFUSED_FRAMES, making the address wait', () => {
    const ip = '203.0.113.5';
    const budgets = connectionLimits.newConnection();
    const actions = [0, 10, 10, 990, 10].map((step) => {
      vi.advanceTimersByTime(step);
      return connectionLimits.refused(ip, budgets);
    });
    expect(actions).toEqual(['tell', 'drop', 'drop', 'tell', 'close']);
    expect(connectionLimits.waitSeconds(ip)).toBe(30);
    expect(connectionLimits.waitSeconds('203.0.113.6')).toBe(0);
    vi.advanceTimersByTime(30_000);
    expect(connectionLimits.waitSeconds(ip)).toBe(0);
  });

  it('forgives refusals spread over more than 10 s, and never closes with WS_MAX_REFUSED_FRAMES=0', () => {
    const budgets = connectionLimits.newConnection();
    for (let i = 0; i < 12; i++) {
      expect(connectionLimits.refused('203.0.113.5', budgets)).not.toBe('close');
      vi.advanceTimersByTime(2500);
    }
    const never = new ConnectionLimits({ ...limits, maxRefusedFrames: 0 });
    const flooding = never.newConnection();
    for (let i = 0; i < 100; i++) expect(never.refused('203.0.113.5', flooding)).not.toBe('close');
    const noWait = new ConnectionLimits({ ...limits, maxRefusedFrames: 1, abuseWaitSeconds: 0 });
    expect(noWait.refused('203.0.113.5', noWait.newConnection())).toBe('close');
    expect(noWait.waitSeconds('203.0.113.5')).toBe(0);
  });

  it('knows before a sub is read whether its connection or address has any budget left', () => {
    const ip = '198.51.100.8';
    const [first, second] = [connectionLimits.newConnection(), connectionLimits.newConnection()];
    expect(connectionLimits.subscriptionsSpent(ip, first)).toBeUndefined();
    connectionLimits.chargeSubscriptions(ip, first, 10);
    expect(connectionLimits.subscriptionsSpent(ip, first)).toMatch(/on a connection/);
    expect(connectionLimits.subscriptionsSpent(ip, second)).toBeUndefined();
    connectionLimits.chargeSubscriptions(ip, second, 5);
    expect(connectionLimits.subscriptionsSpent(ip, second)).toMatch(/from one address/);
    vi.advanceTimersByTime(1000);
    expect(connectionLimits.subscriptionsSpent(ip, first)).toBeUndefined();
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
