import { createHash, timingSafeEqual } from 'node:crypto';
import { StockwireError } from '../errors.js';
import { bearerToken } from './credentials.js';

/**
 * The admin check: `Authorization: Bearer <ADMIN_TOKEN>`. Unset token: the admin API is off
 * (403 admin_disabled). Digests are compared, so the check takes the same time whatever the guess.
 */
export function checkAdmin(adminToken: string | undefined, authorization: string | undefined): void {
  if (adminToken === undefined) throw new StockwireError('admin_disabled');
  if (!adminTokenMatches(bearerToken(authorization), adminToken)) {
    throw new StockwireError('unauthorized', 'A valid admin token is required.');
  }
}

export function adminTokenMatches(presented: string | undefined, adminToken: string): boolean {
  if (presented === undefined) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(adminToken).digest();
  return timingSafeEqual(a, b);
}
