import type { FastifyInstance } from 'fastify';
import type { UsageMeter } from '../usage/usage-meter.js';
import { isMerchantWrite } from './merchant-writes.js';

/**
 * Counts each answered call of a merchant's key (secret or publishable) as an API call, and each
 * successful write as a write. Calls refused before the key was checked (429, 401) count for nobody.
 */
export function installUsageCounting(app: FastifyInstance, meter: Pick<UsageMeter, 'apiCall' | 'write'>): void {
  app.addHook('onResponse', async (request, reply) => {
    const caller = request.caller;
    if (caller === null) return;
    meter.apiCall(caller.merchantId);
    if (reply.statusCode < 400 && isMerchantWrite(request)) meter.write(caller.merchantId);
  });
}
