import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from './schema.js';
import { isMysql } from './sql-dialect.js';
import { storeQuery } from './storage-errors.js';

/** What one node counted for one merchant on one UTC day since its last flush. */
export interface UsageDelta {
  readonly merchantId: string;
  /** 'YYYY-MM-DD' (UTC). */
  readonly day: string;
  readonly apiCalls: number;
  readonly writes: number;
  readonly frames: number;
  /** The most sockets this node saw the merchant hold on every node at once (a maximum, not a sum). */
  readonly peakConnections: number;
}

export interface UsageDay {
  readonly day: string;
  readonly apiCalls: number;
  readonly writes: number;
  readonly peakConnections: number;
  readonly frames: number;
}

export interface OriginSeen {
  readonly merchantId: string;
  readonly origin: string;
  readonly seenAt: Date;
}

export interface InstalledOn {
  readonly origin: string;
  readonly lastSeenAt: Date;
}

/** The UTC day of a moment, as `merchant_usage.day` holds it. */
export function usageDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/**
 * Usage per merchant and day (`merchant_usage`) and the origins whose pages opened sockets
 * (`merchant_origins`). Every node adds to the same rows: counts are summed, peaks take the
 * greater value, so flushes from many nodes in any order give one answer. Rows of a merchant
 * deleted meanwhile are dropped (the join on `merchants`), never an error.
 */
export class UsageStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async add(deltas: readonly UsageDelta[]): Promise<void> {
    if (deltas.length === 0) return;
    const mysql = isMysql(this.#db);
    const rows = sql.join(
      deltas.map((d, i) =>
        mysql
          ? sql`select ${d.merchantId} as merchant_id, ${d.day} as day, ${d.apiCalls} as api_calls, ${d.writes} as writes, ${d.frames} as frames, ${d.peakConnections} as peak_connections`
          : i === 0
            ? sql`(${d.merchantId}::text, ${d.day}::text, ${d.apiCalls}::bigint, ${d.writes}::bigint, ${d.frames}::bigint, ${d.peakConnections}::integer)`
            : sql`(${d.merchantId}, ${d.day}, ${d.apiCalls}, ${d.writes}, ${d.frames}, ${d.peakConnections})`,
      ),
      mysql ? sql` union all ` : sql`, `,
    );
    const values = mysql ? sql`(${rows}) as v` : sql`(values ${rows}) as v (merchant_id, day, api_calls, writes, frames, peak_connections)`;
    const upsert = mysql
      ? sql`on duplicate key update api_calls = merchant_usage.api_calls + values(api_calls), writes = merchant_usage.writes + values(writes),
            frames = merchant_usage.frames + values(frames), peak_connections = greatest(merchant_usage.peak_connections, values(peak_connections))`
      : sql`on conflict (merchant_id, day) do update set api_calls = merchant_usage.api_calls + excluded.api_calls, writes = merchant_usage.writes + excluded.writes,
            frames = merchant_usage.frames + excluded.frames, peak_connections = greatest(merchant_usage.peak_connections, excluded.peak_connections)`;
    await storeQuery(() =>
      sql`insert into merchant_usage (merchant_id, day, api_calls, writes, frames, peak_connections)
          select v.merchant_id, v.day, v.api_calls, v.writes, v.frames, v.peak_connections
            from ${values} inner join merchants as m on m.id = v.merchant_id
          ${upsert}`.execute(this.#db),
    );
  }

  /**
   * Records origins seen. An origin the merchant already has is refreshed; a new one is kept only
   * while the merchant has fewer than `perMerchant` (so made-up Origin headers cannot grow the table).
   */
  async addOrigins(seen: readonly OriginSeen[], perMerchant: number): Promise<void> {
    if (seen.length === 0) return;
    const mysql = isMysql(this.#db);
    const rows = sql.join(
      seen.map((o, i) =>
        mysql
          ? sql`select ${o.merchantId} as merchant_id, ${o.origin} as origin, ${o.seenAt} as last_seen_at`
          : i === 0
            ? sql`(${o.merchantId}::text, ${o.origin}::text, ${o.seenAt}::timestamptz)`
            : sql`(${o.merchantId}, ${o.origin}, ${o.seenAt})`,
      ),
      mysql ? sql` union all ` : sql`, `,
    );
    const values = mysql ? sql`(${rows}) as v` : sql`(values ${rows}) as v (merchant_id, origin, last_seen_at)`;
    const known: RawBuilder<unknown> = sql`exists (select 1 from merchant_origins as k where k.merchant_id = r.merchant_id and k.origin = r.origin)`;
    // Numbered per merchant: the rows of one flush see the table as it was before it, so each counts its place.
    const room: RawBuilder<unknown> = sql`(select count(*) from merchant_origins as c where c.merchant_id = r.merchant_id) + r.n <= ${perMerchant}`;
    const upsert = mysql
      ? sql`on duplicate key update last_seen_at = greatest(merchant_origins.last_seen_at, values(last_seen_at))`
      : sql`on conflict (merchant_id, origin) do update set last_seen_at = greatest(merchant_origins.last_seen_at, excluded.last_seen_at)`;
    await storeQuery(() =>
      sql`insert into merchant_origins (merchant_id, origin, last_seen_at)
          select r.merchant_id, r.origin, r.last_seen_at
            from (select v.merchant_id, v.origin, v.last_seen_at, row_number() over (partition by v.merchant_id order by v.origin) as n
                    from ${values} inner join merchants as m on m.id = v.merchant_id) as r
           where ${known} or ${room}
          ${upsert}`.execute(this.#db),
    );
  }

  /** The merchant's usage from `fromDay` on, newest first; only days with data. */
  async days(merchantId: string, fromDay: string): Promise<UsageDay[]> {
    const rows = await storeQuery(() =>
      this.#db
        .selectFrom('merchant_usage')
        .select(['day', 'api_calls', 'writes', 'frames', 'peak_connections'])
        .where('merchant_id', '=', merchantId)
        .where('day', '>=', fromDay)
        .orderBy('day', 'desc')
        .execute(),
    );
    return rows.map((r) => ({
      day: r.day,
      apiCalls: Number(r.api_calls),
      writes: Number(r.writes),
      peakConnections: Number(r.peak_connections),
      frames: Number(r.frames),
    }));
  }

  /** Origins seen since `since`, most recent first. */
  async installedOn(merchantId: string, since: Date, limit: number): Promise<InstalledOn[]> {
    const rows = await storeQuery(() =>
      this.#db
        .selectFrom('merchant_origins')
        .select(['origin', 'last_seen_at'])
        .where('merchant_id', '=', merchantId)
        .where('last_seen_at', '>=', since)
        .orderBy('last_seen_at', 'desc')
        .orderBy('origin')
        .limit(limit)
        .execute(),
    );
    return rows.map((r) => ({ origin: r.origin, lastSeenAt: new Date(r.last_seen_at) }));
  }

  /** Removes usage before `beforeDay` and origins not seen since `originsBefore`. */
  async sweep(beforeDay: string, originsBefore: Date): Promise<void> {
    await storeQuery(async () => {
      await this.#db.deleteFrom('merchant_usage').where('day', '<', beforeDay).execute();
      await this.#db.deleteFrom('merchant_origins').where('last_seen_at', '<', originsBefore).execute();
    });
  }
}
