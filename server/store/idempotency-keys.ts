import { sql, type Kysely, type Transaction } from 'kysely';
import { StockwireError } from '../errors.js';
import type { IdempotencyInput, StoredAnswer } from './records.js';
import type { Database } from './schema.js';
import { isDuplicateKey, isMysql, jsonFrom, now, nowPlusSeconds } from './sql-dialect.js';
import type { StockTransaction } from './stock-transaction.js';
import { storeQuery } from './storage-errors.js';

/** A kept answer: what a write with an Idempotency-Key answers (and answers again on a replay). */
export interface KeptAnswer {
  readonly answer: StoredAnswer;
  readonly replayed: boolean;
}

/** Runs `work` in one stock transaction (retried on conflicts), as `StockStore` does for every write. */
export type Transact = <T>(
  merchantId: string,
  idempotencyKey: string | null,
  work: (tx: StockTransaction, trx: Transaction<Database>) => Promise<T>,
) => Promise<T>;

/** Thrown inside a transaction to roll a write back whose contract error becomes the kept answer. */
class RollbackSignal extends Error {}

/**
 * The Idempotency-Key protocol: a key is claimed in the same transaction as its write and keeps the
 * write's answer; a retry of the same request replays it, another request under the key is
 * `idempotency_conflict`. Keys live `ttlHours`, then may be claimed again or purged.
 */
export class IdempotencyKeys {
  readonly #db: Kysely<Database>;
  readonly #ttlHours: number;
  readonly #transact: Transact;

  constructor(db: Kysely<Database>, ttlHours: number, transact: Transact) {
    this.#db = db;
    this.#ttlHours = ttlHours;
    this.#transact = transact;
  }

  /**
   * Run a write at most once per Idempotency-Key (see the class). A contract error thrown by `work`
   * rolls the write back and becomes the (kept) answer.
   */
  async writeOnce(
    merchantId: string,
    idempotency: IdempotencyInput | undefined,
    work: (tx: StockTransaction) => Promise<StoredAnswer>,
  ): Promise<KeptAnswer> {
    if (!idempotency) {
      try {
        return { answer: await this.#transact(merchantId, null, work), replayed: false };
      } catch (error) {
        return { answer: errorAnswer(error), replayed: false };
      }
    }
    let failure: StockwireError | undefined;
    const first = await this.#transact(merchantId, idempotency.key, async (tx, trx) => {
      const claim = await this.claim(trx, merchantId, idempotency);
      if (claim) return claim;
      let answer: StoredAnswer;
      try {
        answer = await work(tx);
      } catch (error) {
        if (!(error instanceof StockwireError) || error.status >= 500) throw error;
        failure = error;
        throw new RollbackSignal();
      }
      await this.keep(trx, merchantId, idempotency.key, answer);
      return { answer, replayed: false };
    }).catch((error: unknown) => {
      if (error instanceof RollbackSignal) return null;
      throw error;
    });
    if (first) return first;
    // The write failed with a contract error and was rolled back: keep that answer under the key.
    const answer = errorAnswer(failure);
    return this.#transact(merchantId, null, async (_tx, trx) => {
      const claim = await this.claim(trx, merchantId, idempotency);
      if (claim) return claim;
      await this.keep(trx, merchantId, idempotency.key, answer);
      return { answer, replayed: false };
    });
  }

  /**
   * Claim an Idempotency-Key inside the write's transaction. Returns null when the key is ours to use,
   * else the answer to give instead. A concurrent holder of the same key makes this wait for its COMMIT.
   */
  async claim(trx: Transaction<Database>, merchantId: string, idempotency: IdempotencyInput): Promise<KeptAnswer | null> {
    if (await this.#claimRow(trx, merchantId, idempotency)) return null;
    const existing = await trx
      .selectFrom('idempotency_keys')
      .select(['fingerprint', 'status', 'body'])
      .where('merchant_id', '=', merchantId)
      .where('key', '=', idempotency.key)
      .forUpdate()
      .executeTakeFirst();
    if (!existing || existing.fingerprint !== idempotency.fingerprint || existing.status === null) {
      const error = new StockwireError('idempotency_conflict');
      return { answer: { status: error.status, body: error.toBody() }, replayed: false };
    }
    return { answer: { status: existing.status, body: jsonFrom(trx, existing.body) }, replayed: true };
  }

  /** Keeps the answer of a claimed key, in the claim's transaction. */
  async keep(trx: Transaction<Database>, merchantId: string, key: string, answer: StoredAnswer): Promise<void> {
    await trx
      .updateTable('idempotency_keys')
      .set({ status: answer.status, body: JSON.stringify(answer.body) })
      .where('merchant_id', '=', merchantId)
      .where('key', '=', key)
      .execute();
  }

  /** Remove up to `limit` keys past their time; returns how many. */
  async purgeExpired(limit: number): Promise<number> {
    // MySQL may not read the table it deletes from, but limits a DELETE itself (PostgreSQL does not).
    const result = await storeQuery(() =>
      isMysql(this.#db)
        ? this.#db.deleteFrom('idempotency_keys').where('expires_at', '<=', now).limit(limit).executeTakeFirst()
        : this.#db
            .deleteFrom('idempotency_keys')
            .where(({ eb, selectFrom }) =>
              eb(
                sql`(merchant_id, key)`,
                'in',
                selectFrom('idempotency_keys').select(['merchant_id', 'key']).where('expires_at', '<=', now).limit(limit),
              ),
            )
            .executeTakeFirst(),
    );
    return Number(result.numDeletedRows);
  }

  /**
   * Insert the key's row, or take over an expired one; false when a live one exists (a concurrent
   * holder makes the INSERT wait for its COMMIT). PostgreSQL does it in one upsert, which must not
   * fail (a failed statement aborts its transaction); MySQL removes an expired row, then inserts and
   * reads a duplicate-key error as "taken" (its transaction goes on).
   */
  async #claimRow(trx: Transaction<Database>, merchantId: string, idempotency: IdempotencyInput): Promise<boolean> {
    const expiresAt = nowPlusSeconds(trx, this.#ttlHours * 3600);
    const values = { merchant_id: merchantId, key: idempotency.key, fingerprint: idempotency.fingerprint, status: null, body: null, expires_at: expiresAt };
    if (isMysql(trx)) {
      await trx
        .deleteFrom('idempotency_keys')
        .where('merchant_id', '=', merchantId)
        .where('key', '=', idempotency.key)
        .where('expires_at', '<=', now)
        .execute();
      try {
        await trx.insertInto('idempotency_keys').values(values).execute();
        return true;
      } catch (error) {
        if (isDuplicateKey(error)) return false;
        throw error;
      }
    }
    const claimed = await trx
      .insertInto('idempotency_keys')
      .values(values)
      .onConflict((c) =>
        c
          .columns(['merchant_id', 'key'])
          .doUpdateSet({
            fingerprint: idempotency.fingerprint,
            status: null,
            body: null,
            created_at: now,
            expires_at: expiresAt,
          })
          .where('idempotency_keys.expires_at', '<=', now),
      )
      .returning('key')
      .executeTakeFirst();
    return claimed !== undefined;
  }
}

/** A contract error as the answer a keyed write gives (and keeps); anything else is rethrown. */
export function errorAnswer(error: unknown): StoredAnswer {
  if (error instanceof StockwireError && error.status < 500) return { status: error.status, body: error.toBody() };
  throw error;
}
