import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, WebhookEventType, WebhookOutboxTable } from '../store/schema.js';

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
 * Subscriptions, the outbox and delivery attempts. Events enter the outbox through the `stock`
 * trigger (migration `0003_webhooks`); this class claims, settles and shows them.
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
   * only time it is shown), or null at the limit. The count and the insert are one statement.
   */
  async create(
    merchantId: string,
    input: { url: string; events: readonly WebhookEventType[] },
    max: number,
  ): Promise<(Webhook & { secret: string }) | null> {
    const id = newWebhookId();
    const secret = newWebhookSecret();
    const { rows } = await sql<WebhookRow>`
      insert into webhooks (id, merchant_id, url, events, secret)
      select ${id}, ${merchantId}, ${input.url}, ${sql.val([...input.events])}::text[], ${secret}
       where (select count(*) from webhooks where merchant_id = ${merchantId}) < ${max}
      returning ${sql.raw(webhookColumns)}`.execute(this.db);
    const row = rows[0];
    return row ? { ...toWebhook(row), secret } : null;
  }

  async list(merchantId: string): Promise<Webhook[]> {
    const { rows } = await sql<WebhookRow>`
      select ${sql.raw(webhookColumns)} from webhooks where merchant_id = ${merchantId} order by created_at, id`.execute(this.db);
    return rows.map(toWebhook);
  }

  async get(merchantId: string, id: string): Promise<Webhook | null> {
    const { rows } = await sql<WebhookRow>`
      select ${sql.raw(webhookColumns)} from webhooks where merchant_id = ${merchantId} and id = ${id}`.execute(this.db);
    return rows[0] ? toWebhook(rows[0]) : null;
  }

  /** Removes a subscription with its pending events and attempts. */
  async remove(merchantId: string, id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('webhooks').where('merchant_id', '=', merchantId).where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** A new secret; the old one keeps signing (a second `v1=`) for `keepHours`. Null for an unknown id. */
  async rotateSecret(merchantId: string, id: string, keepHours = 24): Promise<(Webhook & { secret: string }) | null> {
    const secret = newWebhookSecret();
    const { rows } = await sql<WebhookRow>`
      update webhooks
         set previous_secret = secret, previous_secret_expires_at = now() + make_interval(hours => ${keepHours}), secret = ${secret}
       where merchant_id = ${merchantId} and id = ${id}
      returning ${sql.raw(webhookColumns)}`.execute(this.db);
    return rows[0] ? { ...toWebhook(rows[0]), secret } : null;
  }

  /** The endpoint's last attempts, newest first. */
  async attempts(webhookId: string): Promise<DeliveryAttempt[]> {
    const { rows } = await sql<AttemptRow>`
      select a.id, a.attempt, a.status_code, a.error, a.duration_ms, a.at, o.event_id, o.type, o.sku, o.state
        from webhook_attempts as a join webhook_outbox as o on o.id = a.outbox_id
       where a.webhook_id = ${webhookId}
       order by a.at desc, a.id
       limit ${this.#options.attemptsKept}`.execute(this.db);
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
      const { rows } = await sql<{ id: string }>`
        update webhook_outbox as o
           set state = 'pending', next_attempt_at = now(), created_at = now()
          from webhook_attempts as a
         where a.id = ${attemptId} and a.webhook_id = ${webhookId} and o.id = a.outbox_id
        returning o.id`.execute(trx);
      if (rows.length === 0) return false;
      await sql`update webhooks set disabled_at = null, disabled_reason = null, failing_since = null
                 where id = ${webhookId} and disabled_at is not null`.execute(trx);
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
   * Claims up to `limit` due events for this node. `SKIP LOCKED` lets many nodes claim at once
   * without waiting on each other, and the lease (a later `next_attempt_at`) keeps what one node
   * claimed from the others until it settles it or, if the node died, until the lease runs out.
   * Only the oldest pending event of each endpoint and product is ever due: order per product.
   */
  async claim(limit: number): Promise<ClaimedEvent[]> {
    const { rows } = await sql<ClaimRow>`
      with due as (
        select o.id from webhook_outbox as o
         where o.state = 'pending' and o.next_attempt_at <= now()
           and not exists (
             select 1 from webhook_outbox as e
              where e.state = 'pending' and e.webhook_id = o.webhook_id and e.sku = o.sku and e.id < o.id)
         order by o.next_attempt_at, o.id
         limit ${limit}
         for update of o skip locked
      )
      update webhook_outbox as o
         set next_attempt_at = now() + make_interval(secs => ${this.#options.leaseMs / 1000}), attempts = o.attempts + 1
        from due, webhooks as w
       where o.id = due.id and w.id = o.webhook_id and w.disabled_at is null
      returning o.id, o.webhook_id, o.event_id, o.type, o.sku, o.status, o.available, o.on_hand, o.version, o.created_at, o.attempts,
                w.url, w.secret, case when w.previous_secret_expires_at > now() then w.previous_secret end as previous_secret`.execute(this.db);
    return rows
      .sort((a, b) => Number(a.id) - Number(b.id))
      .map((r) => ({
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
    if (delivered) {
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
    return this.db.transaction().execute(async (trx) => {
      await trx.insertInto('webhook_attempts').values(attempt).execute();
      const delayMs = retryDelayMs(event.attempt, o.retryBaseMs, o.retryMaxDelayMs);
      const { rows } = await sql<{ state: string }>`
        update webhook_outbox
           set state = case when created_at + make_interval(hours => ${o.retryHours}) <= now() + make_interval(secs => ${delayMs / 1000})
                            then 'failed' else 'pending' end,
               next_attempt_at = now() + make_interval(secs => ${delayMs / 1000})
         where id = ${event.outboxId} and state = 'pending'
        returning state`.execute(trx);
      const gaveUp = rows[0]?.state === 'failed';
      const { rows: endpoint } = await sql<{ disabled: boolean }>`
        update webhooks
           set failing_since = coalesce(failing_since, now()),
               disabled_at = case when failing_since <= now() - make_interval(hours => ${o.disableAfterHours}) then now() end,
               disabled_reason = case when failing_since <= now() - make_interval(hours => ${o.disableAfterHours})
                                      then ${`no successful delivery for ${o.disableAfterHours} hours`} end
         where id = ${event.webhookId} and disabled_at is null
        returning disabled_at is not null as disabled`.execute(trx);
      if (endpoint[0]?.disabled === true) {
        await sql`update webhook_outbox set state = 'failed' where webhook_id = ${event.webhookId} and state = 'pending'`.execute(trx);
      }
      return { delivered, gaveUp };
    });
  }

  /**
   * Keeps the last `attemptsKept` attempts per endpoint, then removes settled events that no kept
   * attempt shows any more. Run now and then (not per attempt: that would sort on every send).
   */
  async prune(limit = 1000): Promise<number> {
    await sql`
      delete from webhook_attempts
       where id in (select id from (select id, row_number() over (partition by webhook_id order by at desc, id) as n
                                      from webhook_attempts) as ranked
                     where n > ${this.#options.attemptsKept})`.execute(this.db);
    const { rows } = await sql<{ id: string }>`
      delete from webhook_outbox
       where id in (select o.id from webhook_outbox as o
                     where o.state <> 'pending'
                       and not exists (select 1 from webhook_attempts as a where a.outbox_id = o.id)
                     limit ${limit})
      returning id`.execute(this.db);
    return rows.length;
  }

  /** Seconds since the oldest event not yet delivered nor given up was written (0 when none). */
  async oldestPendingAgeSeconds(): Promise<number> {
    const { rows } = await sql<{ age: number | null }>`
      select extract(epoch from now() - min(created_at))::float8 as age from webhook_outbox where state = 'pending'`.execute(this.db);
    return Math.max(0, Number(rows[0]?.age ?? 0));
  }
}

const webhookColumns = 'id, url, events, created_at, disabled_at, disabled_reason, failing_since';

interface WebhookRow {
  id: string;
  url: string;
  events: WebhookEventType[];
  created_at: Date;
  disabled_at: Date | null;
  disabled_reason: string | null;
  failing_since: Date | null;
}

interface AttemptRow {
  id: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  at: Date;
  event_id: string;
  type: WebhookEventType;
  sku: string;
  state: string;
}

/** The claimed outbox row with what signing and sending need from its webhook. */
type ClaimRow = Omit<Selectable<WebhookOutboxTable>, 'merchant_id' | 'state' | 'next_attempt_at'> & {
  url: string;
  secret: string;
  previous_secret: string | null;
};

function toWebhook(row: WebhookRow): Webhook {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    createdAt: new Date(row.created_at),
    disabledAt: row.disabled_at === null ? null : new Date(row.disabled_at),
    disabledReason: row.disabled_reason,
    failingSince: row.failing_since === null ? null : new Date(row.failing_since),
  };
}
