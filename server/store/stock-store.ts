import { sql, type Kysely, type Transaction } from 'kysely';
import { StockwireError } from '../errors.js';
import type { PublicStock, StockRecord } from '../stock/types.js';
import { publicView, unknownView } from '../stock/views.js';
import { HoldSweeper, SWEEP_BATCH } from './hold-sweeper.js';
import { IdempotencyKeys, errorAnswer, type KeptAnswer } from './idempotency-keys.js';
import { MerchantKeys } from './merchant-keys.js';
import { openDatabase, type DatabaseBackendName, type DatabaseOptions, type PreparedStatements } from './open-database.js';
import type {
  AdjustStockInput,
  BatchItem,
  BatchItemResult,
  CreatedMerchant,
  Merchant,
  HoldInput,
  IdempotencyInput,
  JournalEntry,
  ProductPage,
  ProductPatch,
  ProductRecord,
  Reservation,
  SetStockInput,
  StoredAnswer,
} from './records.js';
import type { Database } from './schema.js';
import { isMysql, now } from './sql-dialect.js';
import { isRetryableConflict, storeQuery, toStoreError } from './storage-errors.js';

import { StockTransaction, adjustInOneStatement, stockColumns, toProductRecord, toStockRecord, type GroupWrite } from './stock-transaction.js';
import { WriteCombiner, planGroup, type CombinedOp, type PlannedItem, type Settled } from './write-combiner.js';

export type { KeptAnswer } from './idempotency-keys.js';

const loneSurrogate = /\p{Cs}/u;

/**
 * The distinct SKUs a product can have. PostgreSQL text cannot hold NUL or a lone surrogate, so no
 * product has such a SKU: it reads as unknown, not as a storage error.
 */
function storableSkus(skus: readonly string[]): string[] {
  return [...new Set(skus)].filter((sku) => !sku.includes('\u0000') && !loneSurrogate.test(sku));
}

export interface StockStoreOptions {
  /** How long an Idempotency-Key keeps its first answer. */
  readonly idempotencyTtlHours: number;
  /** How often expired reservations are swept back into stock; 0 leaves sweeping to the caller. */
  readonly reservationSweepIntervalMs: number;
  /** Told about failures nobody else hears of: a sweep that failed, a listener that threw. */
  readonly onBackgroundError?: (error: unknown, context: string) => void;
  /**
   * Most adjusts and holds of one SKU applied as one transaction when they arrive while a write of
   * that SKU is in flight (`write-combiner.ts`); 1 turns combining off. Default 100.
   */
  readonly combineMaxItems?: number;
  /** `MERCHANT_MAX_PRODUCTS`: products per merchant where the admin set no limit of its own (0: none). */
  readonly defaultProductLimit?: number;
}

/** What a combinable write gives back: an adjust the stock it left, a hold its reservation. */
export type CombinedResult =
  | { readonly kind: 'adjust'; readonly stock: StockRecord }
  | { readonly kind: 'hold'; readonly reservation: Reservation };

interface CombinedItem {
  readonly merchantId: string;
  readonly sku: string;
  readonly op: CombinedOp;
  /** With a key the item's answer is kept (`toAnswer`), and it resolves to a `KeptAnswer` even for a contract error. */
  readonly keyed?: { readonly idempotency: IdempotencyInput; readonly toAnswer: (result: CombinedResult) => StoredAnswer };
}

export type OpenStockStoreOptions = DatabaseOptions & StockStoreOptions;

export type CommitListener = (records: readonly StockRecord[]) => void;

/** Told of committed changes; `publicChanges` are those whose public version moved (what may be announced). */
interface Listeners {
  readonly committed: Set<CommitListener>;
  readonly publicChange: Set<CommitListener>;
  /** Told when a committed write may have put events in the webhook outbox. */
  readonly events: Set<() => void>;
}

const MAX_ATTEMPTS = 4;
const DEFAULT_COMBINE_MAX_ITEMS = 100;

/**
 * The one way to the stock tables. Every change is one transaction (conditional update + journal
 * row) and is announced to `onCommitted` listeners only after it committed. Reads and writes treat a
 * hold whose time is up as expired even before the sweeper has released it. Merchants and their keys
 * (`merchant-keys.ts`), the Idempotency-Key protocol (`idempotency-keys.ts`) and the hold sweeper
 * (`hold-sweeper.ts`) each have their own module; the store wires them to its transactions and listeners.
 */
export class StockStore {
  readonly #db: Kysely<Database>;
  readonly #prepared: PreparedStatements | undefined;
  readonly #options: StockStoreOptions;
  readonly #listeners: Listeners = { committed: new Set(), publicChange: new Set(), events: new Set() };
  readonly #merchants: MerchantKeys;
  readonly #idempotency: IdempotencyKeys;
  readonly #sweeper: HoldSweeper;
  #closed = false;
  readonly #combiner: WriteCombiner<CombinedItem, CombinedResult | KeptAnswer>;

  constructor(
    db: Kysely<Database>,
    readonly backend: DatabaseBackendName,
    options: StockStoreOptions,
    prepared?: PreparedStatements,
  ) {
    this.#db = db;
    this.#prepared = prepared;
    this.#options = Object.freeze({ ...options });
    this.#merchants = new MerchantKeys(db);
    this.#idempotency = new IdempotencyKeys(db, options.idempotencyTtlHours, (merchantId, key, work) => this.#transact(merchantId, key, work));
    this.#sweeper = new HoldSweeper(
      db,
      { intervalMs: options.reservationSweepIntervalMs, ...(options.onBackgroundError ? { onBackgroundError: options.onBackgroundError } : {}) },
      { emit: (changed, publicChanges) => this.#emit(changed, publicChanges), purgeIdempotencyKeys: () => this.purgeIdempotencyKeys() },
    );
    this.#combiner = new WriteCombiner(options.combineMaxItems ?? DEFAULT_COMBINE_MAX_ITEMS, (_key, items) =>
      items.length === 1 ? this.#applyAlone(items[0]!) : this.#applyCombined(items),
    );
  }

  /** Opens (and migrates) the database the options select and starts the reservation sweeper. */
  static async open(options: OpenStockStoreOptions): Promise<StockStore> {
    const { db, backend, prepared } = await openDatabase(options);
    const store = new StockStore(db, backend, options, prepared);
    store.startSweeper();
    return store;
  }

  // ---- merchants and keys (`merchant-keys.ts`) -----------------------------------------------

  createMerchant(input: { name: string; allowedOrigins?: readonly string[] }): Promise<CreatedMerchant> {
    return this.#merchants.createMerchant(input);
  }

  /** See `MerchantKeys.rotateKeys`: the caller tells every node's key cache to forget the merchant. */
  rotateKeys(
    merchantId: string,
    options?: { readonly publishable?: boolean; readonly graceSeconds?: number },
  ): Promise<{ publishableKey: string; secretKey: string } | null> {
    return this.#merchants.rotateKeys(merchantId, options);
  }

  listMerchants(options: { limit: number; after?: string }): Promise<{ items: Merchant[]; nextCursor: string | null }> {
    return this.#merchants.listMerchants(options);
  }

  getMerchant(merchantId: string): Promise<Merchant | null> {
    return this.#merchants.getMerchant(merchantId);
  }

  updateMerchant(merchantId: string, patch: { readonly name?: string; readonly allowedOrigins?: readonly string[] }): Promise<Merchant | null> {
    return this.#merchants.updateMerchant(merchantId, patch);
  }

  deleteMerchant(merchantId: string): Promise<boolean> {
    return this.#merchants.deleteMerchant(merchantId);
  }

  /** One lookup, uncached: callers go through the access module's key cache. */
  resolveSecretKey(key: string): Promise<{ merchantId: string } | null> {
    return this.#merchants.resolveSecretKey(key);
  }

  /** One lookup, uncached: callers go through the access module's key cache. */
  resolvePublishableKey(key: string): Promise<{ merchantId: string; allowedOrigins: readonly string[] } | null> {
    return this.#merchants.resolvePublishableKey(key);
  }

  // ---- reads ---------------------------------------------------------------------------------

  async getStock(merchantId: string, sku: string): Promise<StockRecord | null> {
    const [record] = await this.getStocks(merchantId, [sku]);
    return record ?? null;
  }

  /** One entry per SKU, in order (null for unknown ones). */
  async getStocks(merchantId: string, skus: readonly string[]): Promise<(StockRecord | null)[]> {
    if (skus.length === 0) return [];
    const unique = storableSkus(skus);
    if (unique.length === 0) return skus.map(() => null);
    let rows = await this.#readStock(merchantId, unique);
    const stale = rows.filter((r) => r.stale).map((r) => r.sku);
    if (stale.length > 0) {
      // A hold ran out and the sweeper has not caught it yet: release it now, so no reader sees stale stock.
      await this.#transact(merchantId, null, async (tx) => {
        for (const sku of stale) await tx.expireStaleHolds(sku);
      });
      rows = await this.#readStock(merchantId, unique);
    }
    const bySku = new Map(rows.map((r) => [r.sku, toStockRecord(r)]));
    return skus.map((sku) => bySku.get(sku) ?? null);
  }

  /** The public view of each SKU, in order; `unknownView(sku)` for products that do not exist. */
  async publicViews(merchantId: string, skus: readonly string[]): Promise<PublicStock[]> {
    const records = await this.getStocks(merchantId, skus);
    return records.map((record, i) => (record ? publicView(record) : unknownView(skus[i]!)));
  }

  /** Which of these SKUs name products opted in to live viewer counts. */
  async viewerProducts(merchantId: string, skus: readonly string[]): Promise<string[]> {
    const unique = storableSkus(skus);
    if (unique.length === 0) return [];
    const rows = await storeQuery(() =>
      this.#db
        .selectFrom('products')
        .select('sku')
        .where('merchant_id', '=', merchantId)
        .where('sku', 'in', unique)
        .where('viewers', '=', true)
        .execute(),
    );
    return rows.map((row) => row.sku);
  }

  async getProduct(merchantId: string, sku: string): Promise<ProductRecord | null> {
    const page = await this.listProducts(merchantId, { limit: 1, from: sku });
    const first = page.items[0];
    return first && first.sku === sku ? first : null;
  }

  /** Products ordered by SKU; `after` is the previous page's `nextCursor`. */
  async listProducts(
    merchantId: string,
    options: { limit: number; after?: string; from?: string },
  ): Promise<ProductPage> {
    const rows = await storeQuery(() => {
      let query = this.#db
        .selectFrom('products as p')
        .innerJoin('stock as s', (j) => j.onRef('s.merchant_id', '=', 'p.merchant_id').onRef('s.sku', '=', 'p.sku'))
        .select([
          'p.sku',
          'p.name',
          'p.low_stock_threshold',
          'p.display',
          'p.viewers',
          'p.created_at',
          'p.updated_at',
          's.merchant_id',
          's.on_hand',
          's.reserved',
          's.version',
          's.public_version',
          's.updated_at as stock_updated_at',
        ])
        .where('p.merchant_id', '=', merchantId)
        .orderBy('p.sku')
        .limit(options.limit + 1);
      if (options.after !== undefined) query = query.where('p.sku', '>', options.after);
      if (options.from !== undefined) query = query.where('p.sku', '>=', options.from);
      return query.execute();
    });
    const items = rows.slice(0, options.limit).map((r) => toProductRecord(r, toStockRecord({ ...r, updated_at: r.stock_updated_at })));
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > options.limit && last ? last.sku : null };
  }

  async getReservation(merchantId: string, id: string): Promise<Reservation | null> {
    return this.#transact(merchantId, null, (tx) => tx.getReservation(id));
  }

  /** The journal of one product, oldest first (audits and tests). */
  async journal(merchantId: string, sku: string): Promise<JournalEntry[]> {
    const rows = await storeQuery(() =>
      this.#db
        .selectFrom('stock_journal')
        .select(['version', 'kind', 'on_hand_delta', 'reserved_delta', 'reason', 'idempotency_key', 'reservation_id', 'at'])
        .where('merchant_id', '=', merchantId)
        .where('sku', '=', sku)
        .orderBy('version')
        .execute(),
    );
    return rows.map((r) => ({
      version: Number(r.version),
      kind: r.kind,
      onHandDelta: Number(r.on_hand_delta),
      reservedDelta: Number(r.reserved_delta),
      reason: r.reason,
      idempotencyKey: r.idempotency_key,
      reservationId: r.reservation_id,
      at: new Date(r.at),
    }));
  }

  // ---- writes: each one transaction ------------------------------------------------------------

  async setStock(merchantId: string, sku: string, input: SetStockInput): Promise<StockRecord> {
    return this.#transact(merchantId, null, (tx) => tx.set(sku, input));
  }

  /** A relative change; combined with other writes of the SKU that arrive while one is in flight. */
  async adjustStock(merchantId: string, sku: string, input: AdjustStockInput): Promise<StockRecord> {
    const op: CombinedOp = { kind: 'adjust', delta: input.delta, reason: input.reason };
    const result = await this.#combiner.submit(combineKey(merchantId, sku), { merchantId, sku, op });
    return (result as Extract<CombinedResult, { kind: 'adjust' }>).stock;
  }

  async upsertProduct(merchantId: string, sku: string, patch: ProductPatch): Promise<ProductRecord> {
    return this.#transact(merchantId, null, (tx) => tx.upsertProduct(sku, patch));
  }

  async applyBatch(merchantId: string, items: readonly BatchItem[]): Promise<BatchItemResult[]> {
    return this.#transact(merchantId, null, (tx) => applyBatchIn(tx, items));
  }

  /** A hold; combined with other writes of the SKU that arrive while one is in flight. */
  async holdReservation(merchantId: string, input: HoldInput): Promise<Reservation> {
    const op: CombinedOp = { kind: 'hold', quantity: input.quantity, ttlSeconds: input.ttlSeconds };
    const result = await this.#combiner.submit(combineKey(merchantId, input.sku), { merchantId, sku: input.sku, op });
    return (result as Extract<CombinedResult, { kind: 'hold' }>).reservation;
  }

  /**
   * An adjust or hold for an HTTP request, combinable like `adjustStock`, with `writeOnce`'s
   * Idempotency-Key rules; `toAnswer` makes the answer that is sent and kept with the key.
   */
  async writeCombinable(
    merchantId: string,
    sku: string,
    op: CombinedOp,
    idempotency: IdempotencyInput | undefined,
    toAnswer: (result: CombinedResult) => StoredAnswer,
  ): Promise<KeptAnswer> {
    const key = combineKey(merchantId, sku);
    if (idempotency) return (await this.#combiner.submit(key, { merchantId, sku, op, keyed: { idempotency, toAnswer } })) as KeptAnswer;
    try {
      return { answer: toAnswer((await this.#combiner.submit(key, { merchantId, sku, op })) as CombinedResult), replayed: false };
    } catch (error) {
      return { answer: errorAnswer(error), replayed: false };
    }
  }

  /** Combined groups applied and the writes they held, since the store opened (groups of one included). */
  get combiningStats(): { readonly groups: number; readonly items: number } {
    return this.#combiner.stats;
  }

  async commitReservation(merchantId: string, id: string): Promise<Reservation> {
    return this.#transact(merchantId, null, (tx) => tx.commitReservation(id));
  }

  async releaseReservation(merchantId: string, id: string): Promise<Reservation> {
    return this.#transact(merchantId, null, (tx) => tx.releaseReservation(id));
  }

  /**
   * Run a write for an HTTP request, at most once per Idempotency-Key. The key is claimed in the
   * same transaction as the write and keeps its answer: a retry with the same request gets the first
   * answer and changes nothing; another request under the same key is `idempotency_conflict`.
   * A contract error thrown by `work` rolls the write back and becomes the (kept) answer.
   */
  writeOnce(
    merchantId: string,
    idempotency: IdempotencyInput | undefined,
    work: (tx: StockTransaction) => Promise<StoredAnswer>,
  ): Promise<KeptAnswer> {
    return this.#idempotency.writeOnce(merchantId, idempotency, work);
  }

  // ---- reservations expiry (`hold-sweeper.ts`) and key purging ---------------------------------

  /** Expire up to `limit` due holds (any merchant) in one transaction; returns how many. Safe on many nodes. */
  expireDueReservations(limit = SWEEP_BATCH): Promise<number> {
    return this.#sweeper.expireDue(limit);
  }

  /** Remove Idempotency-Keys past their time. */
  purgeIdempotencyKeys(limit = SWEEP_BATCH): Promise<number> {
    return this.#idempotency.purgeExpired(limit);
  }

  startSweeper(): void {
    if (!this.#closed) this.#sweeper.start();
  }

  // ---- plumbing ------------------------------------------------------------------------------

  /** Called once after every committed write, hidden counts included. Returns an unsubscribe. */
  onCommitted(listener: CommitListener): () => void {
    this.#listeners.committed.add(listener);
    return () => {
      this.#listeners.committed.delete(listener);
    };
  }

  /**
   * Called after every committed write that moved a product's public version, with those products:
   * what the bus may carry. A write that only moved a hidden count is never passed here.
   */
  onPublicChange(listener: CommitListener): () => void {
    this.#listeners.publicChange.add(listener);
    return () => {
      this.#listeners.publicChange.delete(listener);
    };
  }

  /**
   * Called after a committed write that may have put webhook events in the outbox (a public status
   * moved; holds expired by the sweeper always count): what wakes the dispatcher, so a write that sends
   * no event costs it no outbox query.
   */
  onEventsWritten(listener: () => void): () => void {
    this.#listeners.events.add(listener);
    return () => {
      this.#listeners.events.delete(listener);
    };
  }

  /** Throws when the database is unreachable. */
  async ping(): Promise<void> {
    await storeQuery(() => sql`select 1`.execute(this.#db));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#sweeper.stop();
    await this.#db.destroy();
  }

  /** The Kysely handle, for tools that need raw SQL (benchmarks, tests). Not for request paths. */
  get db(): Kysely<Database> {
    return this.#db;
  }

  /** A write nobody combined with: exactly the path it takes without combining. */
  async #applyAlone(item: CombinedItem): Promise<Array<Settled<CombinedResult | KeptAnswer>>> {
    const { merchantId, sku, op, keyed } = item;
    try {
      if (keyed) {
        const kept = await this.writeOnce(merchantId, keyed.idempotency, async (tx) => keyed.toAnswer(await applyOp(tx, sku, op)));
        return [{ ok: true, value: kept }];
      }
      // A hold, or any write on MySQL (no data-modifying CTE): a transaction locks, writes and journals.
      if (op.kind === 'hold' || isMysql(this.#db)) return [{ ok: true, value: await this.#transact(merchantId, null, (tx) => applyOp(tx, sku, op)) }];
      // One statement, no explicit transaction: the common case costs one round trip.
      const input = { delta: op.delta, reason: op.reason };
      const changed = await storeQuery(() => adjustInOneStatement(this.#db, merchantId, sku, input, null, undefined, this.#prepared));
      if (changed) {
        this.#emit([changed.record], changed.publicChanged ? [changed.record] : [], changed.hadEvent);
        return [{ ok: true, value: { kind: 'adjust', stock: changed.record } }];
      }
      // Refused: find out why (and release holds whose time is up) in a transaction.
      return [{ ok: true, value: { kind: 'adjust', stock: await this.#transact(merchantId, null, (tx) => tx.adjust(sku, input)) } }];
    } catch (error) {
      return [{ ok: false, error }];
    }
  }

  /**
   * Writes of one SKU that queued behind one in flight, as ONE transaction: their keys are claimed
   * first (the lock order of `writeOnce`: key, then stock row), the row is locked once, `planGroup`
   * decides each item in arrival order, and one UPDATE applies them all (`StockTransaction.applyGroup`).
   * Each keeps its own answer, version, journal row and kept answer.
   */
  async #applyCombined(items: readonly CombinedItem[]): Promise<Array<Settled<CombinedResult | KeptAnswer>>> {
    const { merchantId, sku } = items[0]!;
    return this.#transact(merchantId, null, async (tx, trx) => {
      const outcomes = new Array<Settled<CombinedResult | KeptAnswer> | undefined>(items.length);
      const ops = items.map((item): CombinedOp | null => item.op);
      // A key used twice in one group: the later item answers as a retry of the earlier would.
      const claimedBy = new Map<string, number>();
      const repeats = new Map<number, number>();
      for (const [i, item] of items.entries()) {
        if (!item.keyed) continue;
        const { idempotency } = item.keyed;
        const earlier = claimedBy.get(idempotency.key);
        if (earlier !== undefined) {
          repeats.set(i, earlier);
          ops[i] = null;
          continue;
        }
        const claim = await this.#idempotency.claim(trx, merchantId, idempotency);
        if (claim) {
          outcomes[i] = { ok: true, value: claim };
          ops[i] = null;
        } else claimedBy.set(idempotency.key, i);
      }
      let row = await tx.get(sku, true);
      let plan: Array<PlannedItem | null> = row ? planGroup(row, ops) : ops.map((op) => (op ? { ok: false, error: notFound(sku) } : null));
      // A refusal may be due to holds whose time is up: release them (their own version) and plan again.
      if (row && plan.some((p) => p?.ok === false && p.error.code === 'insufficient_stock') && (await tx.expireStaleHolds(sku))) {
        row = (await tx.get(sku))!;
        plan = planGroup(row, ops);
      }
      const writes = new Map<number, GroupWrite>();
      plan.forEach((p, i) => {
        if (!p?.ok) return;
        const { op, keyed } = items[i]!;
        writes.set(i, {
          version: p.version,
          onHand: p.onHand,
          reserved: p.reserved,
          onHandDelta: p.onHandDelta,
          reservedDelta: p.reservedDelta,
          reason: op.kind === 'adjust' ? (op.reason ?? null) : null,
          idempotencyKey: keyed?.idempotency.key ?? null,
          ...(op.kind === 'hold' ? { ttlSeconds: op.ttlSeconds } : {}),
        });
      });
      const applied = writes.size > 0 ? await tx.applyGroup(sku, [...writes.values()]) : undefined;
      for (const [i, item] of items.entries()) {
        const p = plan[i];
        if (!p) continue;
        let settled: Settled<CombinedResult>;
        if (p.ok) {
          // Its own counts and version; the public version is the group's (one committed write).
          const stock: StockRecord = { ...applied!.record, onHand: p.onHand, reserved: p.reserved, version: p.version };
          const reservation = applied!.reservations.get(writes.get(i)!);
          settled = { ok: true, value: reservation ? { kind: 'hold', reservation } : { kind: 'adjust', stock } };
        } else settled = { ok: false, error: p.error };
        if (!item.keyed) {
          outcomes[i] = settled;
          continue;
        }
        const answer = settled.ok ? item.keyed.toAnswer(settled.value) : errorAnswer(settled.error);
        await this.#idempotency.keep(trx, merchantId, item.keyed.idempotency.key, answer);
        outcomes[i] = { ok: true, value: { answer, replayed: false } };
      }
      for (const [i, earlier] of repeats) {
        const first = outcomes[earlier];
        const same = items[i]!.keyed!.idempotency.fingerprint === items[earlier]!.keyed!.idempotency.fingerprint;
        outcomes[i] =
          same && first?.ok
            ? { ok: true, value: { answer: (first.value as KeptAnswer).answer, replayed: true } }
            : { ok: true, value: { answer: errorAnswer(new StockwireError('idempotency_conflict')), replayed: false } };
      }
      return outcomes.map((o) => o ?? { ok: false, error: new Error('combined write left unanswered') });
    });
  }

  async #transact<T>(
    merchantId: string,
    idempotencyKey: string | null,
    work: (tx: StockTransaction, trx: Transaction<Database>) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let tx: StockTransaction | undefined;
      try {
        const result = await this.#db.transaction().execute(async (trx) => {
          tx = new StockTransaction(trx, merchantId, idempotencyKey, this.#options.defaultProductLimit);
          const done = await work(tx, trx);
          await tx.writeEvents();
          return done;
        });
        const changed = tx?.changed ?? [];
        if (changed.length > 0) this.#emit(changed, tx?.publicChanges ?? [], tx?.hadEvents ?? true);
        return result;
      } catch (error) {
        if (attempt < MAX_ATTEMPTS && isRetryableConflict(error)) {
          // A short, growing, jittered pause: retried at once, the same transactions collide again.
          await new Promise((resolve) => setTimeout(resolve, attempt * 5 + Math.random() * 10));
          continue;
        }
        throw toStoreError(error);
      }
    }
  }

  /** `events` false only where the write is known to have put no event in the outbox. */
  #emit(records: readonly StockRecord[], publicChanges: readonly StockRecord[], events = true): void {
    const calls: Array<[ReadonlySet<(list: readonly StockRecord[]) => void>, readonly StockRecord[]]> = [[this.#listeners.committed, records]];
    if (publicChanges.length > 0) calls.push([this.#listeners.publicChange, publicChanges]);
    if (events) calls.push([this.#listeners.events, records]);
    for (const [listeners, list] of calls) {
      for (const listener of listeners) {
        try {
          listener(list);
        } catch (error) {
          this.#options.onBackgroundError?.(error, 'onCommitted listener');
        }
      }
    }
  }

  async #readStock(merchantId: string, skus: readonly string[]) {
    return storeQuery(() =>
      this.#db
        .selectFrom('stock as s')
        .innerJoin('products as p', (j) => j.onRef('p.merchant_id', '=', 's.merchant_id').onRef('p.sku', '=', 's.sku'))
        .select(stockColumns)
        .select((eb) =>
          eb
            .exists(
              eb
                .selectFrom('reservations as r')
                .select(sql.lit(1).as('one'))
                .whereRef('r.merchant_id', '=', 's.merchant_id')
                .whereRef('r.sku', '=', 's.sku')
                .where('r.state', '=', 'held')
                .where('r.expires_at', '<=', now),
            )
            .as('stale'),
        )
        .where('s.merchant_id', '=', merchantId)
        .where('s.sku', 'in', skus)
        .execute(),
    );
  }
}

/** Batch items are independent: each succeeds or fails on its own, in the one transaction. */
export async function applyBatchIn(tx: StockTransaction, items: readonly BatchItem[]): Promise<BatchItemResult[]> {
  // Lock rows in SKU order (stable for repeats), so concurrent batches cannot deadlock each other.
  const order = items.map((_, i) => i).sort((a, b) => compare(items[a]!.sku, items[b]!.sku) || a - b);
  const results: BatchItemResult[] = new Array<BatchItemResult>(items.length);
  for (const i of order) {
    const item = items[i]!;
    try {
      const stock =
        item.delta !== undefined
          ? await tx.adjust(item.sku, { delta: item.delta, reason: item.reason })
          : await tx.set(item.sku, { onHand: item.onHand, reason: item.reason });
      results[i] = { sku: item.sku, ok: true, stock };
    } catch (error) {
      if (!(error instanceof StockwireError) || error.status >= 500) throw error;
      results[i] = { sku: item.sku, ok: false, error: { code: error.code, message: error.message } };
    }
  }
  return results;
}

function combineKey(merchantId: string, sku: string): string {
  return `${merchantId}\u0000${sku}`;
}

/** One combinable write inside a transaction, when it runs alone. */
async function applyOp(tx: StockTransaction, sku: string, op: CombinedOp): Promise<CombinedResult> {
  if (op.kind === 'adjust') return { kind: 'adjust', stock: await tx.adjust(sku, { delta: op.delta, reason: op.reason }) };
  return { kind: 'hold', reservation: await tx.hold({ sku, quantity: op.quantity, ttlSeconds: op.ttlSeconds }) };
}

function notFound(sku: string): StockwireError {
  return new StockwireError('not_found', `No product ${sku}.`);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
