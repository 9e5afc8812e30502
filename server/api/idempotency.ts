import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IdempotencyInput, StoredAnswer } from '../store/records.js';
import type { CombinedResult, KeptAnswer, StockStore } from '../store/stock-store.js';
import type { CombinedOp } from '../store/write-combiner.js';
import type { StockTransaction } from '../store/stock-transaction.js';

/** JSON with sorted keys, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function idempotencyOf(request: FastifyRequest): IdempotencyInput | undefined {
  const key = request.headers['idempotency-key'];
  if (typeof key !== 'string') return undefined;
  const path = request.url.split('?')[0];
  const fingerprint = createHash('sha256')
    .update(`${request.method} ${path}\n${canonical(request.body ?? null)}`)
    .digest('base64url');
  return { key, fingerprint };
}

/**
 * Run one write of the calling merchant and send its answer. With an `Idempotency-Key` the answer
 * is kept with the key in the write's own transaction; a replay says so in `Idempotent-Replayed`.
 */
export async function sendWrite(
  request: FastifyRequest,
  reply: FastifyReply,
  store: Pick<StockStore, 'writeOnce'>,
  merchantId: string,
  work: (tx: StockTransaction) => Promise<StoredAnswer>,
): Promise<FastifyReply> {
  return send(reply, await store.writeOnce(merchantId, idempotencyOf(request), work));
}

/** `sendWrite` for an adjust or a hold: the store may combine it with other writes of the SKU. */
export async function sendCombinable(
  request: FastifyRequest,
  reply: FastifyReply,
  store: Pick<StockStore, 'writeCombinable'>,
  merchantId: string,
  sku: string,
  op: CombinedOp,
  toAnswer: (result: CombinedResult) => StoredAnswer,
): Promise<FastifyReply> {
  return send(reply, await store.writeCombinable(merchantId, sku, op, idempotencyOf(request), toAnswer));
}

function send(reply: FastifyReply, { answer, replayed }: KeptAnswer): FastifyReply {
  if (replayed) reply.header('idempotent-replayed', 'true');
  return reply.code(answer.status).send(answer.body);
}
