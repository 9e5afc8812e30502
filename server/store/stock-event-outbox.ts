import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { StockEventType } from '../stock/stock-events.js';
import type { StockStatus } from '../stock/types.js';
import type { Database } from './schema.js';
import { listContains } from './sql-dialect.js';

/** One event of a committed write (`stock/stock-events.ts`), as the outbox keeps it for each endpoint. */
export interface StockEvent {
  readonly id: string;
  readonly type: StockEventType;
  readonly sku: string;
  readonly status: StockStatus;
  readonly available: number;
  readonly onHand: number;
  /** The public version the write left. */
  readonly version: number;
}

/**
 * Puts events into the outbox inside the write's own transaction, one row per endpoint of the
 * merchant that subscribed to the event's type and is not disabled, in the order given (the outbox
 * id is the order of delivery per product). One statement for any number of events; a merchant
 * without webhooks gets no rows. The same SQL on every database: strings travel as parameters,
 * numbers (our own counts) as literals, so no dialect needs casts or a VALUES list.
 */
export async function writeStockEvents(db: Kysely<Database>, merchantId: string, events: readonly StockEvent[]): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map(
    (e, n) => sql`select ${sql.lit(n)} as n, ${e.id} as event_id, ${e.type} as type, ${e.sku} as sku, ${e.status} as status,
                         ${sql.lit(e.available)} as available, ${sql.lit(e.onHand)} as on_hand, ${sql.lit(e.version)} as version`,
  );
  await outboxInsert(db, merchantId, sql.join(rows, sql` union all `)).execute(db);
}

/**
 * The INSERT of `events` (a query with the columns `n`, `event_id`, `type`, `sku`, `status`,
 * `available`, `on_hand`, `version`; `n` orders them) for every endpoint that takes them: here and in
 * the one-statement adjust, which writes its event in the same statement as the change.
 */
export function outboxInsert(db: Kysely<Database>, merchantId: string, events: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`
    insert into webhook_outbox (webhook_id, merchant_id, event_id, type, sku, status, available, on_hand, version)
    select w.id, w.merchant_id, e.event_id, e.type, e.sku, e.status, e.available, e.on_hand, e.version
      from (${events}) as e
      join webhooks as w on w.merchant_id = ${merchantId} and ${listContains(db, sql`w.events`, sql`e.type`)} and w.disabled_at is null
     order by e.n, w.id`;
}

/**
 * `stockEventType(statusOf(before, t), statusOf(after, t))` in SQL, from the available counts before
 * and after a write and the low-stock threshold: the event type, or null. For the one-statement
 * adjust, which writes its events in the same statement; tested against the TypeScript rule.
 */
export function stockEventSql(before: RawBuilder<number>, after: RawBuilder<number>, threshold: RawBuilder<number>): RawBuilder<string | null> {
  return sql<string | null>`case
    when (${after}) <= 0 and (${before}) > 0 then 'stock.sold_out'
    when (${before}) <= 0 and (${after}) > 0 then 'stock.back_in_stock'
    when (${before}) > (${threshold}) and (${after}) <= (${threshold}) and (${after}) > 0 then 'stock.low_stock'
  end`;
}
