import { sql, type Kysely, type Transaction } from 'kysely';
import { roomForOneMore, type LimitDirectory, type LimitName, type LimitOverrides } from '../access/merchant-limits.js';
import { StockwireError } from '../errors.js';
import type { Database, MerchantLimitsTable } from './schema.js';
import { isMysql } from './sql-dialect.js';
import { storeQuery } from './storage-errors.js';

const columnOf = {
  connections: 'connections',
  products: 'products',
  writesPerMinute: 'writes_per_minute',
} as const satisfies Record<LimitName, keyof MerchantLimitsTable>;

type LimitRow = Pick<MerchantLimitsTable, 'connections' | 'products' | 'writes_per_minute'>;

function overridesFrom(row: LimitRow | undefined): LimitOverrides {
  if (row === undefined) return {};
  return { connections: row.connections, products: row.products, writesPerMinute: row.writes_per_minute };
}

/** The limits an admin set per merchant (`merchant_limits`); what is not set is the platform default. */
export class MerchantLimitStore implements LimitDirectory {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async limitOverrides(merchantId: string): Promise<LimitOverrides> {
    return (await this.overridesOf([merchantId])).get(merchantId) ?? {};
  }

  /** Overrides of each merchant asked (a page of the admin list at once). */
  async overridesOf(merchantIds: readonly string[]): Promise<Map<string, LimitOverrides>> {
    const found = new Map<string, LimitOverrides>();
    if (merchantIds.length === 0) return found;
    const rows = await storeQuery(() =>
      this.#db
        .selectFrom('merchant_limits')
        .select(['merchant_id', 'connections', 'products', 'writes_per_minute'])
        .where('merchant_id', 'in', [...merchantIds])
        .execute(),
    );
    for (const row of rows) found.set(row.merchant_id, overridesFrom(row));
    return found;
  }

  /** Sets the limits named in `patch` (null: back to the default); false when there is no such merchant. */
  async setOverrides(merchantId: string, patch: LimitOverrides): Promise<boolean> {
    const set: Partial<LimitRow> = {};
    for (const name of Object.keys(columnOf) as LimitName[]) {
      const value = patch[name];
      if (value !== undefined) set[columnOf[name]] = value;
    }
    return storeQuery(() =>
      this.#db.transaction().execute(async (trx) => {
        const merchant = await trx.selectFrom('merchants').select('id').where('id', '=', merchantId).forUpdate().executeTakeFirst();
        if (merchant === undefined) return false;
        if (Object.keys(set).length === 0) return true;
        const insert = trx.insertInto('merchant_limits').values({ merchant_id: merchantId, ...set });
        await (isMysql(trx) ? insert.onDuplicateKeyUpdate(set) : insert.onConflict((c) => c.column('merchant_id').doUpdateSet(set))).execute();
        return true;
      }),
    );
  }
}

/**
 * Refuses a new product past the merchant's `products` limit (403 limit_exceeded), inside the
 * transaction that creates it. The merchant row is locked first, so two creations on any node
 * cannot both take the last place.
 */
export async function checkProductLimit(trx: Transaction<Database>, merchantId: string, sku: string, defaultLimit: number): Promise<void> {
  const own = await trx.selectFrom('merchant_limits').select('products').where('merchant_id', '=', merchantId).executeTakeFirst();
  const limit = own?.products ?? defaultLimit;
  if (limit <= 0) return;
  await trx.selectFrom('merchants').select('id').where('id', '=', merchantId).forUpdate().executeTakeFirst();
  // A product it has is never refused (an upsert inserts first and updates when the row is there).
  const existing = await trx.selectFrom('products').select('sku').where('merchant_id', '=', merchantId).where('sku', '=', sku).executeTakeFirst();
  if (existing !== undefined) return;
  const { count } = await trx
    .selectFrom('products')
    .select(sql<string | number>`count(*)`.as('count'))
    .where('merchant_id', '=', merchantId)
    .executeTakeFirstOrThrow();
  if (!roomForOneMore(Number(count), limit)) {
    throw new StockwireError('limit_exceeded', `This merchant may have at most ${limit} products.`);
  }
}
