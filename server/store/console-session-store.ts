import type { Kysely } from 'kysely';
import type { ConsoleSessionDirectory, ConsoleSessionGrant } from '../access/console-session.js';
import type { Database } from './schema.js';
import { now, nowPlusSeconds } from './sql-dialect.js';
import { toStoreError } from './storage-errors.js';

export interface ConsoleSessionTimes {
  /** A session unused this long has ended (CONSOLE_SESSION_IDLE_MINUTES). */
  readonly idleMinutes: number;
  /** A session ends this long after sign-in, however active (CONSOLE_SESSION_MAX_HOURS). */
  readonly maxHours: number;
}

/** What the console shows about whoever is signed in. */
export interface ConsoleSessionInfo extends ConsoleSessionGrant {
  readonly name: string;
  readonly publishableKey: string;
  readonly expiresAt: Date;
}

/** Use is recorded at most this often, so a busy console costs no write per request. */
const TOUCH_EVERY_SECONDS = 60;

/**
 * Merchant console sessions in the database, so every API node knows them. A session is alive while
 * it is younger than its maximum, was used within the idle time, and its merchant's secret key is
 * still the one it signed in with: signing out deletes the row, a key rotation leaves it unmatched,
 * and deleting the merchant deletes it (foreign key).
 */
export class ConsoleSessionStore implements ConsoleSessionDirectory {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly times: ConsoleSessionTimes,
  ) {}

  /** Opens a session for the merchant whose secret key hashes to `keyHash`; null: no such key. */
  async create(tokenHash: string, keyHash: string): Promise<ConsoleSessionInfo | null> {
    return this.#run(async () => {
      const merchant = await this.db.selectFrom('merchants').select('id').where('secret_key_hash', '=', keyHash).executeTakeFirst();
      if (merchant === undefined) return null;
      // The merchant's sessions that are over make way, so a table never fills with dead sign-ins.
      await this.db
        .deleteFrom('console_sessions')
        .where('merchant_id', '=', merchant.id)
        .where((eb) => eb.or([eb('expires_at', '<=', now), eb('last_seen_at', '<=', this.#idleSince())]))
        .execute();
      await this.db
        .insertInto('console_sessions')
        .values({ token_hash: tokenHash, merchant_id: merchant.id, key_hash: keyHash, expires_at: nowPlusSeconds(this.db, this.times.maxHours * 3600) })
        .execute();
      return this.info(tokenHash);
    });
  }

  async findSession(tokenHash: string): Promise<ConsoleSessionGrant | null> {
    const found = await this.info(tokenHash);
    return found === null ? null : { merchantId: found.merchantId };
  }

  /** The live session's merchant, recording its use; null when ended, idle, expired or unknown. */
  async info(tokenHash: string): Promise<ConsoleSessionInfo | null> {
    return this.#run(async () => {
      const row = await this.db
        .selectFrom('console_sessions as s')
        .innerJoin('merchants as m', (j) => j.onRef('m.id', '=', 's.merchant_id').onRef('m.secret_key_hash', '=', 's.key_hash'))
        .select(['m.id', 'm.name', 'm.publishable_key', 's.expires_at'])
        .select((eb) => eb('s.last_seen_at', '<', nowPlusSeconds(this.db, -TOUCH_EVERY_SECONDS)).as('stale_touch'))
        .where('s.token_hash', '=', tokenHash)
        .where('s.expires_at', '>', now)
        .where('s.last_seen_at', '>', this.#idleSince())
        .executeTakeFirst();
      if (row === undefined) return null;
      if (row.stale_touch) {
        await this.db.updateTable('console_sessions').set({ last_seen_at: now }).where('token_hash', '=', tokenHash).execute();
      }
      return { merchantId: row.id, name: row.name, publishableKey: row.publishable_key, expiresAt: new Date(row.expires_at) };
    });
  }

  /** Signs out: the session is gone on every node at once. */
  async end(tokenHash: string): Promise<void> {
    await this.#run(() => this.db.deleteFrom('console_sessions').where('token_hash', '=', tokenHash).execute());
  }

  #idleSince() {
    return nowPlusSeconds(this.db, -this.times.idleMinutes * 60);
  }

  async #run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw toStoreError(error);
    }
  }
}
