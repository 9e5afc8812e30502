import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type QueryCreator, type Transaction } from 'kysely';
import type { Database, WebhookEventType } from '../store/schema.js';
import { isMysql, now, nowPlusSeconds, textListFrom, textListValue, timePlusSeconds } from '../store/sql-dialect.js';
import { isRetryableConflict } from '../store/storage-errors.js';

/** A subscription as the merchant sees it (never with its secret, which is shown once). */
export interface Webhook {
  readonly id: string;
  readonly url: string;
  readonly events: readonly WebhookEventType[];
  readonly createdAt: Date;
  /** Set when the endpoint failed for `WEBHOOK_DISABLE_AFTER_HOURS`: nothing more is sent to it. */
  readonly disabledAt: Date | null;
  readonly disabledReason: string | null;
  /** Since when every attempt failed; null when the last attempt succeeded (or none was made). */
  readonly failingSince: Date | null;
}

export interface DeliveryAttempt {
  readonly id: string;
  readonly eventId: string;
  readonly type: WebhookEventType;
  readonly sku: string;
  readonly attempt: number;
  /** The receiver's HTTP status; null when there was no answer (refused, timed out, unreachable). */
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly durationMs: number;
  readonly at: Date;
  /** The event's state now: delivered, still being retried (`pending`), or given up (`failed`). */
  readonly state: string;
}

/** An event claimed for sending to one endpoint, with what is needed to sign it. */
export interface ClaimedEvent {
  readonly outboxId: string;
  readonly webhookId: string;
  readonly url: string;
  /** Every secret valid now: the current one, and the previous one within a day of a rotation. */
  readonly secrets: readonly string[];
  readonly eventId: string;
  readonly type: WebhookEventType;
  readonly createdAt: Date;
  readonly data: { sku: string; status: string; available: number; onHand: number; version: number };
  /** 1 for the first attempt. */
  readonly attempt: number;
}

export interface AttemptOutcome {
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly durationMs: number;
}

export interface WebhookStoreOptions {
  /** How long a claimed event is kept from other nodes: longer than one send may take. */
  readonly leaseMs: number;
  /** The first retry delay; each next one doubles, with full jitter, up to `retryMaxDelayMs`. */
  readonly retryBaseMs: number;
  readonly retryMaxDelayMs: number;
  /** How long an event is retried before it is given up. */
  readonly retryHours: number;
  /** How long an endpoint may fail without a success before it is disabled. */
  readonly disableAfterHours: number;
  /** Attempts kept per endpoint for `GET …/deliveries`. */
  readonly attemptsKept: number;
}

/** Tries of a claim or settle that the database asked to run again (a deadlock or lock wait timeout). */
const TRANSACTION_ATTEMPTS = 3;

/** How many attempts `GET /v1/webhooks/:id/deliveries` shows. */
export const ATTEMPTS_KEPT = 100;

export function newWebhookId(): string {
  return `wh_${randomBytes(12).toString('hex')}`;
}

export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64url')}`;
}

function newAttemptId(): string {
  return `whd_${randomBytes(12).toString('hex')}`;
}

/** The delay before retry `attempt` (1 = first retry): exponential with full jitter. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/**
 * Subscriptions, the outbox and delivery attempts, on every store (PostgreSQL, PGlite, MySQL/MariaDB).
 * Events enter the outbox in the stock change's own transaction (`store/stock-event-outbox.ts`); this
 * class claims, settles and shows them.
 */
export class WebhookStore {
  readonly #options: WebhookStoreOptions;

  constructor(
    private readonly db: Kysely<Database>,
    options: WebhookStoreOptions,
  ) {
    this.#options = Object.freeze({ ...options });
  }

  async count(merchantId: string): Promise<number> {
    const row = await this.db
      .selectFrom('webhooks')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('merchant_id', '=', merchantId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Creates a subscription unless the merchant already has `max`; returns it with its secret (the
   * only time it is shown), or null at the limit. The merchant's row is locked while counting, so two
   * creates at once cannot both take the last place.
   */
  async create(
    merchantId: string,
    input: { url: string; events: readonly WebhookEventType[] },
    max: number,
  ): Promise<(Webhook & { secret: string }) | null> {
    const id = newWebhookId();
    const secret = newWebhookSecret();
    return this.db.transaction().execute(async (trx) => {
      await trx.selectFrom('merchants').select('id').where('id', '=', merchantId).forUpdate().executeTakeFirst();
      const { n } = await trx
        .selectFrom('webhooks')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('merchant_id', '=', merchantId)
        .executeTakeFirstOrThrow();
      if (Number(n) >= max) return null;
      const events = textListValue(trx, input.events) as WebhookEventType[];
      await trx.insertInto('webhooks').values({ id, merchant_id: merchantId, url: input.url, events, secret }).execute();
      const row = await selectWebhooks(trx, merchantId).where('id', '=', id).executeTakeFirstOrThrow();
      return { ...toWebhook(row), secret };
    });
  }

  async list(merchantId: string): Promise<Webhook[]> {
    const rows = await selectWebhooks(this.db, merchantId).orderBy('created_at').orderBy('id').execute();
    return rows.map(toWebhook);
  }

  async get(merchantId: string, id: string): Promise<Webhook | null> {
    const row = await selectWebhooks(this.db, merchantId).where('id', '=', id).executeTakeFirst();
    return row ? toWebhook(row) : null;
  }

  /** Removes a subscription with its pending events and attempts (their foreign keys cascade). */
  async remove(merchantId: string, id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('webhooks').where('merchant_id', '=', merchantId).where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** A new secret; the old one keeps signing (a second `v1=`) for `keepHours`. Null for an unknown id. */
  async rotateSecret(merchantId: string, id: string, keepHours = 24): Promise<(Webhook & { secret: string }) | null> {
    const secret = newWebhookSecret();
    return this.db.transaction().execute(async (trx) => {
      // `previous_secret` first: MySQL assigns left to right, so it still reads the old `secret`.
      const { numUpdatedRows } = await trx
        .updateTable('webhooks')
        .set({ previous_secret: sql.ref('secret'), previous_secret_expires_at: nowPlusSeconds(trx, keepHours * 3600), secret })
        .where('merchant_id', '=', merchantId)
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      if (numUpdatedRows === 0n) return null;
      const row = await selectWebhooks(trx, merchantId).where('id', '=', id).executeTakeFirstOrThrow();
      return { ...toWebhook(row), secret };
    });
  }

  /** The endpoint's last attempts, newest first. */
  async attempts(webhookId: string): Promise<DeliveryAttempt[]> {
    const rows = await this.db
      .selectFrom('webhook_attempts as a')
      .innerJoin('webhook_outbox as o', 'o.id', 'a.outbox_id')
      .select(['a.id', 'a.attempt', 'a.status_code', 'a.error', 'a.duration_ms', 'a.at', 'o.event_id', 'o.type', 'o.sku', 'o.state'])
      .where('a.webhook_id', '=', webhookId)
      .orderBy('a.at', 'desc')
      .orderBy('a.id')
      .limit(this.#options.attemptsKept)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      eventId: r.event_id,
      type: r.type,
      sku: r.sku,
      attempt: Number(r.attempt),
      statusCode: r.status_code === null ? null : Number(r.status_code),
      error: r.error,
      durationMs: Number(r.duration_ms),
      at: new Date(r.at),
      state: r.state,
    }));
  }

  /**
   * Sends the event of an attempt again, now: it becomes pending (its retry window starting over) and
   * a disabled endpoint is enabled again, since the merchant asked. False for an unknown attempt.
   */
  async retry(webhookId: string, attemptId: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const attempt = await trx
        .selectFrom('webhook_attempts')
        .select('outbox_id')
        .where('id', '=', attemptId)
        .where('webhook_id', '=', webhookId)
        .executeTakeFirst();
      if (!attempt) return false;
      await trx
        .updateTable('webhook_outbox')
        .set({ state: 'pending', next_attempt_at: now, created_at: now })
        .where('id', '=', attempt.outbox_id)
        .execute();
      await trx
        .updateTable('webhooks')
        .set({ disabled_at: null, disabled_reason: null, failing_since: null })
        .where('id', '=', webhookId)
        .where('disabled_at', 'is not', null)
        .execute();
      return true;
    });
  }

  /** Drops a merchant's undelivered events (a merchant being deleted). Returns how many. */
  async dropMerchantEvents(merchantId: string): Promise<number> {
    const result = await this.db
      .deleteFrom('webhook_outbox')
      .where('merchant_id', '=', merchantId)
      .where('state', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /**
   * Claims up to `limit` due events for this node (`dueEvents`). `SKIP LOCKED` lets many nodes claim
   * at once without waiting on each other, and the lease (a later `next_attempt_at`, set before the
   * locks go) keeps what one node claimed from the others until it settles it or, if the node died,
   * until the lease runs out. PostgreSQL does it in one statement; MySQL, without data-modifying WITH
   * or UPDATE … RETURNING, in a short transaction of the same steps.
   */
  async claim(limit: number): Promise<ClaimedEvent[]> {
    const lease = nowPlusSeconds(this.db, this.#options.leaseMs / 1000);
    const previousSecret = sql<string | null>`case when w.previous_secret_expires_at > ${now} then w.previous_secret end`.as('previous_secret');
    const rows = !isMysql(this.db)
      ? await this.db
          .with('due', (db) => dueEvents(db, limit))
          .updateTable('webhook_outbox as o')
          .from(['due', 'webhooks as w'])
          .set({ next_attempt_at: lease, attempts: sql`o.attempts + 1` })
          .whereRef('o.id', '=', 'due.id')
          .whereRef('w.id', '=', 'o.webhook_id')
          .returning(claimColumns)
          .returning(previousSecret)
          .execute()
      : await this.#transaction(async (trx) => {
          const ids = (await dueEvents(trx, limit).execute()).map((r) => r.id);
          if (ids.length === 0) return [];
          await trx.updateTable('webhook_outbox').set({ next_attempt_at: lease, attempts: sql`attempts + 1` }).where('id', 'in', ids).execute();
          return trx
            .selectFrom('webhook_outbox as o')
            .innerJoin('webhooks as w', 'w.id', 'o.webhook_id')
            .select(claimColumns)
            .select(previousSecret)
            .where('o.id', 'in', ids)
            .execute();
        });
    rows.sort((a, b) => Number(a.id) - Number(b.id));
    return rows.map((r) => ({
      outboxId: String(r.id),
      webhookId: r.webhook_id,
      url: r.url,
      secrets: r.previous_secret === null ? [r.secret] : [r.secret, r.previous_secret],
      eventId: r.event_id,
      type: r.type,
      createdAt: new Date(r.created_at),
      data: { sku: r.sku, status: r.status, available: Number(r.available), onHand: Number(r.on_hand), version: Number(r.version) },
      attempt: Number(r.attempts),
    }));
  }

  /**
   * Records an attempt and settles the event: delivered on a 2xx; else retried later, or given up
   * after `retryHours`. An endpoint with no success for `disableAfterHours` is disabled, its pending
   * events given up. Returns whether the event was delivered and whether it was given up now.
   */
  async settle(event: ClaimedEvent, outcome: AttemptOutcome): Promise<{ delivered: boolean; gaveUp: boolean }> {
    const delivered = outcome.statusCode !== null && outcome.statusCode >= 200 && outcome.statusCode < 300;
    const o = this.#options;
    const attempt = {
      id: newAttemptId(),
      webhook_id: event.webhookId,
      outbox_id: event.outboxId,
      attempt: event.attempt,
      status_code: outcome.statusCode,
      error: outcome.error === null ? null : outcome.error.slice(0, 500),
      duration_ms: Math.round(outcome.durationMs),
    };
    if (delivered && !isMysql(this.db)) {
      // The common case in one statement (one round trip): the attempt, the event, the endpoint's health.
      await sql`
        with attempt as (
          insert into webhook_attempts (id, webhook_id, outbox_id, attempt, status_code, error, duration_ms)
          values (${attempt.id}, ${attempt.webhook_id}, ${attempt.outbox_id}, ${attempt.attempt}, ${attempt.status_code}, ${attempt.error}, ${attempt.duration_ms})
        ), event as (
          update webhook_outbox set state = 'delivered' where id = ${event.outboxId}
        )
        update webhooks set failing_since = null where id = ${event.webhookId} and failing_since is not null`.execute(this.db);
      return { delivered, gaveUp: false };
    }
    // The endpoint's row is written first: on MySQL the attempt's foreign key share-locks it, and two
    // settles that each held that lock and then asked to write the row would deadlock.
    return this.#transaction(async (trx) => {
      if (delivered) {
        // MySQL has no data-modifying WITH: the same three writes, in one transaction.
        await trx.updateTable('webhooks').set({ failing_since: null }).where('id', '=', event.webhookId).where('failing_since', 'is not', null).execute();
        await trx.insertInto('webhook_attempts').values(attempt).execute();
        await trx.updateTable('webhook_outbox').set({ state: 'delivered' }).where('id', '=', event.outboxId).execute();
        return { delivered, gaveUp: false };
      }
      const disabled = await markFailing(trx, event.webhookId, o.disableAfterHours);
      await trx.insertInto('webhook_attempts').values(attempt).execute();
      const gaveUp = await retryLater(trx, event.outboxId, retryDelayMs(event.attempt, o.retryBaseMs, o.retryMaxDelayMs) / 1000, o.retryHours);
      if (disabled) {
        await trx.updateTable('webhook_outbox').set({ state: 'failed' }).where('webhook_id', '=', event.webhookId).where('state', '=', 'pending').execute();
      }
      return { delivered, gaveUp };
    });
  }

  /** A transaction, run again when the database picked it as a deadlock's victim or its lock wait timed out. */
  async #transaction<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction().execute(work);
      } catch (error) {
        if (attempt >= TRANSACTION_ATTEMPTS || !isRetryableConflict(error)) throw error;
      }
    }
  }

  /**
   * Keeps the last `attemptsKept` attempts per endpoint, then removes up to `limit` settled events
   * that no kept attempt shows any more. Run now and then (not per attempt: that would sort on every send).
   */
  async prune(limit = 1000): Promise<number> {
    // The ranking is a derived table, which both families materialize, so MySQL may delete from the table it reads.
    await sql`
      delete from webhook_attempts
       where id in (select id from (select id, row_number() over (partition by webhook_id order by at desc, id) as n
                                      from webhook_attempts) as ranked
                     where n > ${this.#options.attemptsKept})`.execute(this.db);
    const settled = await this.db
      .selectFrom('webhook_outbox as o')
      .select('o.id')
      .where('o.state', '<>', 'pending')
      .where(({ exists, not, selectFrom }) => not(exists(selectFrom('webhook_attempts as a').select(sql.lit(1).as('one')).whereRef('a.outbox_id', '=', 'o.id'))))
      .limit(limit)
      .execute();
    if (settled.length === 0) return 0;
    const result = await this.db
      .deleteFrom('webhook_outbox')
      .where('id', 'in', settled.map((r) => r.id))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Seconds since the oldest event not yet delivered nor given up was written (0 when none). */
  async oldestPendingAgeSeconds(): Promise<number> {
    const row = await this.db
      .selectFrom('webhook_outbox')
      .select((eb) => [eb.fn.min('created_at').as('oldest'), now.as('now')])
      .where('state', '=', 'pending')
      .executeTakeFirst();
    if (!row || row.oldest === null) return 0;
    return Math.max(0, (new Date(row.now).getTime() - new Date(row.oldest).getTime()) / 1000);
  }
}

/**
 * A failed attempt's event waits `delaySeconds` for its next one, or is given up when its retry
 * window (`retryHours` from when it was written) ends before then. True: given up now.
 */
async function retryLater(trx: Transaction<Database>, outboxId: string, delaySeconds: number, retryHours: number): Promise<boolean> {
  const next = nowPlusSeconds(trx, delaySeconds);
  const windowEnds = timePlusSeconds(trx, sql.ref('created_at'), retryHours * 3600);
  await trx
    .updateTable('webhook_outbox')
    .set({ state: sql`case when ${windowEnds} <= ${next} then 'failed' else 'pending' end`, next_attempt_at: next })
    .where('id', '=', outboxId)
    .where('state', '=', 'pending')
    .execute();
  const row = await trx.selectFrom('webhook_outbox').select('state').where('id', '=', outboxId).executeTakeFirst();
  return row?.state === 'failed';
}

/**
 * Notes a failed attempt on its endpoint: failing since now if it was not, and disabled when it has
 * failed for `disableAfterHours`. True: disabled now.
 */
async function markFailing(trx: Transaction<Database>, webhookId: string, disableAfterHours: number): Promise<boolean> {
  const tooLong = sql<boolean>`failing_since <= ${timePlusSeconds(trx, now, -disableAfterHours * 3600)}`;
  // `disabled_*` before `failing_since`: MySQL assigns left to right, and they must read the old value.
  const { numUpdatedRows } = await trx
    .updateTable('webhooks')
    .set({
      disabled_at: sql`case when ${tooLong} then ${now} end`,
      disabled_reason: sql`case when ${tooLong} then ${`no successful delivery for ${disableAfterHours} hours`} end`,
      failing_since: sql`coalesce(failing_since, ${now})`,
    })
    .where('id', '=', webhookId)
    .where('disabled_at', 'is', null)
    .executeTakeFirstOrThrow();
  if (numUpdatedRows === 0n) return false;
  const row = await trx.selectFrom('webhooks').select('disabled_at').where('id', '=', webhookId).executeTakeFirst();
  return row?.disabled_at != null;
}

/**
 * The due events, locked with `SKIP LOCKED`: pending, their time come, their endpoint not disabled,
 * and each the oldest pending event of its endpoint and product (order per product). Only outbox rows
 * are locked (the subqueries read without locks), so MariaDB, which has no `FOR UPDATE OF`, runs it too.
 */
function dueEvents(db: QueryCreator<Database>, limit: number) {
  return db
    .selectFrom('webhook_outbox as o')
    .select('o.id')
    .where('o.state', '=', 'pending')
    .where('o.next_attempt_at', '<=', now)
    .where(({ exists, not, selectFrom }) =>
      not(
        exists(
          selectFrom('webhook_outbox as e')
            .select(sql.lit(1).as('one'))
            .where('e.state', '=', 'pending')
            .whereRef('e.webhook_id', '=', 'o.webhook_id')
            .whereRef('e.sku', '=', 'o.sku')
            .whereRef('e.id', '<', 'o.id'),
        ),
      ),
    )
    .where(({ exists, selectFrom }) =>
      exists(selectFrom('webhooks as w').select(sql.lit(1).as('one')).whereRef('w.id', '=', 'o.webhook_id').where('w.disabled_at', 'is', null)),
    )
    .orderBy('o.next_attempt_at')
    .orderBy('o.id')
    .limit(limit)
    .forUpdate()
    .skipLocked();
}

/** What sending a claimed event needs: the outbox row and its endpoint's address and secret. */
const claimColumns = [
  'o.id',
  'o.webhook_id',
  'o.event_id',
  'o.type',
  'o.sku',
  'o.status',
  'o.available',
  'o.on_hand',
  'o.version',
  'o.created_at',
  'o.attempts',
  'w.url',
  'w.secret',
] as const;

/** A merchant's webhooks as `toWebhook` reads them. */
function selectWebhooks(db: Kysely<Database>, merchantId: string) {
  return db
    .selectFrom('webhooks')
    .select(['id', 'url', 'events', 'created_at', 'disabled_at', 'disabled_reason', 'failing_since'])
    .where('merchant_id', '=', merchantId);
}

interface WebhookRow {
  id: string;
  url: string;
  /** A `text[]` from PostgreSQL, JSON text from MySQL. */
  events: unknown;
  created_at: Date;
  disabled_at: Date | null;
  disabled_reason: string | null;
  failing_since: Date | null;
}

function toWebhook(row: WebhookRow): Webhook {
  return {
    id: row.id,
    url: row.url,
    events: textListFrom(row.events) as WebhookEventType[],
    createdAt: new Date(row.created_at),
    disabledAt: row.disabled_at === null ? null : new Date(row.disabled_at),
    disabledReason: row.disabled_reason,
    failingSince: row.failing_since === null ? null : new Date(row.failing_since),
  };
}
