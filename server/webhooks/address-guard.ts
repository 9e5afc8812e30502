import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * The one home of the rule "webhooks never reach loopback, private or link-local networks" (unless
 * `WEBHOOK_ALLOW_PRIVATE=true`). It is checked when an endpoint is created and again before every
 * send, on the address actually connected to (`resolveTarget` pins it), so a DNS answer that changes
 * between the check and the connection (rebinding) cannot reach an internal host.
 */
const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local (cloud metadata lives here)
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved and broadcast
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
  ['64:ff9b::', 96], // NAT64 can point at any IPv4 address
  ['2002::', 16], // 6to4 likewise
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** Whether an IP address is on a network webhooks may not reach. IPv4-mapped IPv6 is judged as IPv4. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family !== 6) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return blocked.check(mapped[1]!, 'ipv4');
  return blocked.check(address, 'ipv6');
}

export interface ResolvedTarget {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Why a URL may not be used; the message is safe to show to the merchant. */
export class TargetRefused extends Error {
  override readonly name = 'TargetRefused';
}

/**
 * Resolves the URL's host and returns the one address to connect to, or throws `TargetRefused`
 * when the URL is not http(s) or any of its addresses is private (one bad answer refuses the whole
 * name, since a later lookup could return it).
 */
export async function resolveTarget(url: URL, allowPrivate: boolean): Promise<ResolvedTarget> {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TargetRefused('url must be http or https');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let answers: Array<{ address: string; family: number }>;
  if (isIP(host) !== 0) answers = [{ address: host, family: isIP(host) }];
  else {
    try {
      answers = await lookup(host, { all: true, verbatim: true });
    } catch {
      throw new TargetRefused(`url host ${host} does not resolve`);
    }
  }
  if (answers.length === 0) throw new TargetRefused(`url host ${host} does not resolve`);
  if (!allowPrivate) {
    const inside = answers.find((a) => isPrivateAddress(a.address));
    if (inside) {
      throw new TargetRefused(`url resolves to ${inside.address}, a loopback, private or link-local address (WEBHOOK_ALLOW_PRIVATE is off)`);
    }
  }
  const first = answers[0]!;
  return { address: first.address, family: first.family === 6 ? 6 : 4 };
}
