/**
 * The shopper's address for per-IP limits. Behind `trustedHops` load balancers the socket's peer is
 * the last balancer, so the address is taken that many steps back along `X-Forwarded-For` — the
 * same rule as the API's `trustProxy` (TRUST_PROXY_HOPS). A header with fewer entries than hops gives
 * its first (left-most) entry; with no trusted hops the header is ignored, since anyone can send it.
 */
export function clientAddress(peer: string, forwardedFor: string, trustedHops: number): string {
  if (trustedHops <= 0 || forwardedFor === '') return peer;
  const chain = [
    ...forwardedFor
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== ''),
    peer,
  ];
  return chain[Math.max(0, chain.length - 1 - trustedHops)]!;
}
