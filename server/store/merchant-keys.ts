import type { Kysely } from 'kysely';
import { hashSecretKey, newMerchantId, newPublishableKey, newSecretKey } from './keys.js';
import type { CreatedMerchant, Merchant } from './records.js';
import type { Database } from './schema.js';
import { now, nowPlusSeconds, textListFrom, textListValue } from './sql-dialect.js';
import { storeQuery } from './storage-errors.js';

/**
 * Merchants and their keys: issue, rotate, look up. Nothing here is cached: the access module's key
 * cache (`server/access`) stands in front of the lookups.
 */
export class MerchantKeys {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async createMerchant(input: { name: string; allowedOrigins?: readonly string[] }): Promise<CreatedMerchant> {
    const secretKey = newSecretKey();
    const publishableKey = newPublishableKey();
    const id = newMerchantId();
    const row = await storeQuery(async () => {
      await this.#db
        .insertInto('merchants')
        .values({
          id,
          name: input.name,
          publishable_key: publishableKey,
          secret_key_hash: hashSecretKey(secretKey),
          allowed_origins: textListValue(this.#db, input.allowedOrigins ?? []),
        })
        .execute();
      return this.#db.selectFrom('merchants').select(['id', 'name', 'allowed_origins', 'created_at']).where('id', '=', id).executeTakeFirstOrThrow();
    });
    return {
      id: row.id,
      name: row.name,
      allowedOrigins: textListFrom(row.allowed_origins),
      createdAt: new Date(row.created_at),
      publishableKey,
      secretKey,
    };
  }

  /**
   * New secret key (and, when asked, a new publishable key) for a merchant. A replaced publishable
   * key stays valid for `graceSeconds` (0: none). The caller tells every node's key cache
   * (`server/access`) to forget the merchant's grants. Null: no such merchant.
   */
  async rotateKeys(
    merchantId: string,
    options: { readonly publishable?: boolean; readonly graceSeconds?: number } = {},
  ): Promise<{ publishableKey: string; secretKey: string } | null> {
    const secretKey = newSecretKey();
    const fresh = options.publishable === true ? newPublishableKey() : undefined;
    const graceSeconds = options.graceSeconds ?? 0;
    // In one transaction: the publishable key answered is the one this rotation left (no UPDATE … RETURNING on MySQL).
    const row = await storeQuery(() =>
      this.#db.transaction().execute(async (trx) => {
        const before = await trx.selectFrom('merchants').select('publishable_key').where('id', '=', merchantId).forUpdate().executeTakeFirst();
        if (before === undefined) return undefined;
        const replaced =
          fresh === undefined
            ? {}
            : {
                publishable_key: fresh,
                previous_publishable_key: graceSeconds > 0 ? before.publishable_key : null,
                previous_publishable_until: graceSeconds > 0 ? nowPlusSeconds(this.#db, graceSeconds) : null,
              };
        await trx
          .updateTable('merchants')
          .set({ secret_key_hash: hashSecretKey(secretKey), ...replaced })
          .where('id', '=', merchantId)
          .execute();
        return { publishable_key: fresh ?? before.publishable_key };
      }),
    );
    return row ? { publishableKey: row.publishable_key, secretKey } : null;
  }

  /** Merchants ordered by id; `after` is the previous page's `nextCursor`. */
  async listMerchants(options: { limit: number; after?: string }): Promise<{ items: Merchant[]; nextCursor: string | null }> {
    const rows = await storeQuery(() => {
      let query = this.#db.selectFrom('merchants').select(['id', 'name', 'allowed_origins', 'created_at']).orderBy('id').limit(options.limit + 1);
      if (options.after !== undefined) query = query.where('id', '>', options.after);
      return query.execute();
    });
    const items = rows.slice(0, options.limit).map(toMerchant);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > options.limit && last ? last.id : null };
  }

  async getMerchant(merchantId: string): Promise<Merchant | null> {
    const row = await storeQuery(() =>
      this.#db.selectFrom('merchants').select(['id', 'name', 'allowed_origins', 'created_at']).where('id', '=', merchantId).executeTakeFirst(),
    );
    return row ? toMerchant(row) : null;
  }

  /** Changes a merchant's name and/or allowed origins; null: no such merchant. */
  async updateMerchant(
    merchantId: string,
    patch: { readonly name?: string; readonly allowedOrigins?: readonly string[] },
  ): Promise<Merchant | null> {
    const row = await storeQuery(() =>
      this.#db.transaction().execute(async (trx) => {
        const set = {
          ...(patch.name === undefined ? {} : { name: patch.name }),
          ...(patch.allowedOrigins === undefined ? {} : { allowed_origins: textListValue(this.#db, patch.allowedOrigins) }),
        };
        if (Object.keys(set).length > 0) await trx.updateTable('merchants').set(set).where('id', '=', merchantId).execute();
        return trx.selectFrom('merchants').select(['id', 'name', 'allowed_origins', 'created_at']).where('id', '=', merchantId).executeTakeFirst();
      }),
    );
    return row ? toMerchant(row) : null;
  }

  /**
   * Removes a merchant and all its data in one transaction, its pending webhook events first (so no
   * node sends them). Each table is cleared by name, children first, rather than trusting foreign keys:
   * the journal and idempotency answers have none to products. (Delivery attempts go with their events
   * and webhooks, by their foreign keys: they have no merchant column.) False: no such merchant.
   */
  async deleteMerchant(merchantId: string): Promise<boolean> {
    const result = await storeQuery(() =>
      this.#db.transaction().execute(async (trx) => {
        for (const table of ['webhook_outbox', 'webhooks', 'reservations', 'stock_journal', 'idempotency_keys', 'stock', 'products'] as const) {
          await trx.deleteFrom(table).where('merchant_id', '=', merchantId).execute();
        }
        return trx.deleteFrom('merchants').where('id', '=', merchantId).executeTakeFirst();
      }),
    );
    return result.numDeletedRows > 0n;
  }

  /** One lookup, uncached: callers go through the access module's key cache. */
  async resolveSecretKey(key: string): Promise<{ merchantId: string } | null> {
    const hash = hashSecretKey(key);
    const row = await storeQuery(() => this.#db.selectFrom('merchants').select('id').where('secret_key_hash', '=', hash).executeTakeFirst());
    return row ? { merchantId: row.id } : null;
  }

  /** One lookup, uncached: callers go through the access module's key cache. */
  async resolvePublishableKey(key: string): Promise<{ merchantId: string; allowedOrigins: readonly string[] } | null> {
    const row = await storeQuery(() =>
      this.#db
        .selectFrom('merchants')
        .select(['id', 'allowed_origins'])
        // The key before the last rotation counts until its grace ends.
        .where((eb) =>
          eb.or([
            eb('publishable_key', '=', key),
            eb.and([eb('previous_publishable_key', '=', key), eb('previous_publishable_until', '>', now)]),
          ]),
        )
        .executeTakeFirst(),
    );
    return row ? { merchantId: row.id, allowedOrigins: Object.freeze(textListFrom(row.allowed_origins)) } : null;
  }
}

function toMerchant(row: { id: string; name: string; allowed_origins: unknown; created_at: Date | string }): Merchant {
  return { id: row.id, name: row.name, allowedOrigins: textListFrom(row.allowed_origins), createdAt: new Date(row.created_at) };
}
