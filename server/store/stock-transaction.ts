import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { CompiledShape, type Placeholders } from './compiled-shape.js';
import { StockwireError } from '../errors.js';
import { faceKey, publicFace, statusOf, statusOfFaceKey } from '../stock/public-face.js';
import { stockEventType } from '../stock/stock-events.js';
import type { DisplayPolicy, StockRecord, StockStatus } from '../stock/types.js';
import { newEventId, newReservationId } from './keys.js';
import { checkProductLimit } from './merchant-limit-store.js';
import type { PreparedStatements } from './open-database.js';
import { createdStart, faceSql, publicVersionSet, type PublicStart } from './public-face-sql.js';
import { isDuplicateKey, isMysql, now, nowPlusSeconds } from './sql-dialect.js';
import { outboxInsert, stockEventSql, writeStockEvents, type StockEvent } from './stock-event-outbox.js';
import {
  MAX_QUANTITY,
  type AdjustStockInput,
  type HoldInput,
  type ProductPatch,
  type ProductRecord,
  type Reservation,
  type SetStockInput,
} from './records.js';
import type { Database, JournalKind, ReservationState } from './schema.js';

export interface StockRow {
  merchant_id: string;
  sku: string;
  on_hand: number;
  reserved: number;
  version: number;
  public_version: number;
  updated_at: Date;
  low_stock_threshold: number;
  display: DisplayPolicy;
}

export function toStockRecord(row: StockRow): StockRecord {
  return {
    merchantId: row.merchant_id,
    sku: row.sku,
    onHand: Number(row.on_hand),
    reserved: Number(row.reserved),
    version: Number(row.version),
    publicVersion: Number(row.public_version),
    lowStockThreshold: Number(row.low_stock_threshold),
    display: row.display,
    updatedAt: new Date(row.updated_at),
  };
}

export interface ProductRow {
  name: string | null;
  low_stock_threshold: number;
  display: DisplayPolicy;
  viewers: boolean | number;
  created_at: Date;
  updated_at: Date;
}

export function toProductRecord(product: ProductRow, stock: StockRecord): ProductRecord {
  return {
    sku: stock.sku,
    name: product.name,
    lowStockThreshold: Number(product.low_stock_threshold),
    display: product.display,
    viewers: Boolean(product.viewers),
    createdAt: new Date(product.created_at),
    updatedAt: new Date(product.updated_at),
    stock,
  };
}

/** The columns `toStockRecord` reads, from `stock as s` joined to `products as p`. */
export const stockColumns = [
  's.merchant_id',
  's.sku',
  's.on_hand',
  's.reserved',
  's.version',
  's.public_version',
  's.updated_at',
  'p.low_stock_threshold',
  'p.display',
] as const;

interface ReservationRow {
  id: string;
  merchant_id: string;
  sku: string;
  quantity: number;
  state: ReservationState;
  expires_at: Date;
  created_at: Date;
}

function toReservation(row: ReservationRow, state: ReservationState = row.state): Reservation {
  return {
    id: row.id,
    merchantId: row.merchant_id,
    sku: row.sku,
    quantity: Number(row.quantity),
    state,
    expiresAt: new Date(row.expires_at),
    createdAt: new Date(row.created_at),
  };
}

/** A stock row as a MySQL transaction holds it locked: what its next write computes from. */
interface LockedRow extends StockRow {
  public_face: string;
  public_changed_version: number;
  /** The database's clock when the row was read: the write's `updated_at`. */
  now: Date;
}

/** One write to a stock row: the new on-hand (absolute or a delta) and a change of the reserved count. */
interface StockChange {
  readonly onHand?: number;
  readonly onHandDelta?: number;
  readonly reservedDelta?: number;
  /** Internal versions the write takes (a combined group takes one per write); default 1. */
  readonly versions?: number;
}

/** One applied write of a combined group: its own version, deltas, counts after it, reason and key; `ttlSeconds` makes it a hold. */
export interface GroupWrite {
  readonly version: number;
  readonly onHand: number;
  readonly reserved: number;
  readonly onHandDelta: number;
  readonly reservedDelta: number;
  readonly reason: string | null;
  readonly idempotencyKey: string | null;
  readonly ttlSeconds?: number;
}

/**
 * The stock operations of one merchant inside one database transaction. Each operation either
 * changes the stock row and writes its journal row, or throws a contract error having changed
 * nothing, so a batch can carry on with its next item in the same transaction.
 * Records it changed are collected for `onCommitted`, which the store calls after COMMIT.
 *
 * Public versions: the first write to a product locks its row and notes the public version and face
 * it starts from (`#begin`); every write then sets the public version to that start, plus one if the
 * face it leaves differs from the start's. So one transaction adds at most one public version per
 * product, and none when the public face ends as it began.
 *
 * Every stock row write goes through `#write`. On PostgreSQL it is one UPDATE that computes the new
 * counts and the public version in SQL. MySQL has no UPDATE … RETURNING, and evaluates a SET list left
 * to right on the new values: there the row is read under its lock (`SELECT … FOR UPDATE`) and the
 * next state computed here with the same rule (`stock/public-face.ts`) before a plain UPDATE, which is
 * as atomic, since nobody else can change the row until COMMIT.
 *
 * Events (webhooks): every write to a product (each journal row, so each item of a combined group)
 * whose public status moved the way `stock/stock-events.ts` sends is noted in order, and
 * `writeEvents` puts them in the outbox before COMMIT, each with the public version the transaction
 * leaves its product at (the version a reader of the committed write sees).
 */
export class StockTransaction {
  readonly #changed = new Map<string, StockRecord>();
  readonly #start = new Map<string, PublicStart>();
  /** The public status each product was left at by this transaction's last write to it. */
  readonly #status = new Map<string, StockStatus>();
  readonly #events: Array<Omit<StockEvent, 'id' | 'version'>> = [];
  /** MySQL only: the rows this transaction holds locked, as its own writes left them. */
  readonly #locked = new Map<string, LockedRow>();
  #hadEvents = false;

  constructor(
    private readonly trx: Transaction<Database>,
    readonly merchantId: string,
    private readonly idempotencyKey: string | null = null,
    /** `MERCHANT_MAX_PRODUCTS`: a merchant's product limit where the admin set none (0: none). */
    private readonly defaultProductLimit = 0,
  ) {}

  /** Changed records, the newest per product, in the order first changed. */
  get changed(): StockRecord[] {
    return [...this.#changed.values()];
  }

  /**
   * Puts the events of this transaction's writes into the outbox (`stock-event-outbox.ts`): call it
   * once, after the last write and before COMMIT, so they commit or roll back with the writes.
   */
  async writeEvents(): Promise<void> {
    const events = this.#events.splice(0).map((e) => ({ ...e, id: newEventId(), version: this.#changed.get(e.sku)!.publicVersion }));
    if (events.length > 0) this.#hadEvents = true;
    await writeStockEvents(this.trx, this.merchantId, events);
  }

  /** Some write of this transaction moved a public status the way an event is sent for (`writeEvents`). */
  get hadEvents(): boolean {
    return this.#hadEvents;
  }

  /** The changed records whose public version moved: the only ones the public may hear of. */
  get publicChanges(): StockRecord[] {
    return this.changed.filter((record) => record.publicVersion !== this.#start.get(record.sku)?.version);
  }

  /** Reads a product; `lock` also locks its stock row until the transaction ends (never the product row). */
  async get(sku: string, lock = false): Promise<StockRecord | null> {
    if (lock && isMysql(this.trx)) {
      const row = await this.#lockRow(sku);
      return row ? toStockRecord(row) : null;
    }
    let query = this.trx
      .selectFrom('stock as s')
      .innerJoin('products as p', (j) => j.onRef('p.merchant_id', '=', 's.merchant_id').onRef('p.sku', '=', 's.sku'))
      .select(stockColumns)
      .select('s.public_face')
      .where('s.merchant_id', '=', this.merchantId)
      .where('s.sku', '=', sku);
    if (lock) query = query.forUpdate('s');
    const row = await query.executeTakeFirst();
    if (!row) return null;
    if (lock && !this.#start.has(sku)) this.#start.set(sku, { version: Number(row.public_version), face: row.public_face });
    return toStockRecord(row);
  }

  /**
   * MySQL: locks the stock row alone (the product's settings come from subqueries, which a locking
   * read does not lock, so the lock order stays stock row, then product row, as on PostgreSQL).
   */
  async #lockRow(sku: string): Promise<LockedRow | undefined> {
    const row = await this.trx
      .selectFrom('stock as s')
      .select(['s.merchant_id', 's.sku', 's.on_hand', 's.reserved', 's.version', 's.public_version', 's.updated_at', 's.public_face', 's.public_changed_version'])
      .select((eb) => [
        eb.selectFrom('products as p').select('p.low_stock_threshold').whereRef('p.merchant_id', '=', 's.merchant_id').whereRef('p.sku', '=', 's.sku').as('low_stock_threshold'),
        eb.selectFrom('products as p').select('p.display').whereRef('p.merchant_id', '=', 's.merchant_id').whereRef('p.sku', '=', 's.sku').as('display'),
        now.as('now'),
      ])
      .where('s.merchant_id', '=', this.merchantId)
      .where('s.sku', '=', sku)
      .forUpdate()
      .executeTakeFirst();
    if (!row) return undefined;
    const locked = { ...row, low_stock_threshold: Number(row.low_stock_threshold), display: row.display! };
    if (!this.#start.has(sku)) this.#start.set(sku, { version: Number(row.public_version), face: row.public_face });
    this.#locked.set(sku, locked);
    return locked;
  }

  /** Locks the product's stock row before this transaction's first write to it (see the class comment). */
  async #begin(sku: string): Promise<PublicStart> {
    const known = this.#start.get(sku);
    if (known !== undefined) return known;
    if (!(await this.get(sku, true))) throw notFound(sku);
    return this.#start.get(sku)!;
  }

  /** Set the absolute on-hand count. Unchanged counts write nothing and keep the version. */
  async set(sku: string, input: SetStockInput): Promise<StockRecord> {
    const { onHand, ifVersion, reason } = input;
    let current = await this.get(sku, true);
    if (!current) {
      if (ifVersion !== undefined && ifVersion !== 0) throw versionConflict(sku, ifVersion, 0);
      const created = await this.#create(sku, onHand, {}, reason);
      if (created) return created.stock;
      current = await this.get(sku, true);
      if (!current) throw new Error(`stock row for ${sku} vanished during creation`);
    }
    if (ifVersion !== undefined && ifVersion !== current.version) throw versionConflict(sku, ifVersion, current.version);
    if (onHand === current.onHand) return current;
    if (onHand < current.reserved) {
      if (await this.expireStaleHolds(sku)) return this.set(sku, { onHand, reason });
      throw new StockwireError(
        'insufficient_stock',
        `Cannot set ${sku} to ${onHand}: ${current.reserved} are held by reservations.`,
      );
    }
    const row = await this.#write(sku, { onHand });
    if (!row) throw new Error(`stock row for ${sku} refused a checked set`);
    return this.#record(toStockRecord(row), 'set', onHand - current.onHand, 0, reason);
  }

  /** Add `delta` to on-hand with one conditional update: the row refuses to go below what is held. */
  async adjust(sku: string, input: AdjustStockInput, retried = false): Promise<StockRecord> {
    const { delta } = input;
    const start = await this.#begin(sku);
    const changed = await this.#adjustRow(sku, input, start);
    if (changed) return changed;

    const current = await this.get(sku);
    if (!current) throw notFound(sku);
    if (current.onHand + delta > MAX_QUANTITY) {
      throw new StockwireError('validation_failed', `On-hand for ${sku} would exceed ${MAX_QUANTITY}.`);
    }
    if (!retried && (await this.expireStaleHolds(sku))) return this.adjust(sku, input, true);
    throw new StockwireError(
      'insufficient_stock',
      `Not enough stock for ${sku}: ${Math.max(0, current.onHand - current.reserved)} available, change ${delta}.`,
    );
  }

  /** The conditional update and its journal row: one statement on PostgreSQL, `#write` on MySQL. Null: refused. */
  async #adjustRow(sku: string, input: AdjustStockInput, start: PublicStart): Promise<StockRecord | null> {
    if (isMysql(this.trx)) {
      const row = await this.#write(sku, { onHandDelta: input.delta });
      return row ? this.#record(toStockRecord(row), 'adjust', input.delta, 0, input.reason) : null;
    }
    const changed = await adjustInOneStatement(this.trx, this.merchantId, sku, input, this.idempotencyKey, start);
    if (!changed) return null;
    this.#remember(changed.record);
    return changed.record;
  }

  /**
   * Create or update a product's settings; a change to threshold or display bumps the version, and
   * the public version too when the public face changes with it (a count shown or hidden, a new status).
   */
  async upsertProduct(sku: string, patch: ProductPatch): Promise<ProductRecord> {
    const created = await this.#create(sku, 0, patch, undefined);
    if (created) return created;
    // Stock row first, then product row: the lock order of every write path.
    await this.#begin(sku);
    const current = await this.trx
      .selectFrom('products')
      .selectAll()
      .where('merchant_id', '=', this.merchantId)
      .where('sku', '=', sku)
      .forUpdate()
      .executeTakeFirstOrThrow();
    const next = {
      name: patch.name === undefined ? current.name : patch.name,
      low_stock_threshold: patch.lowStockThreshold ?? Number(current.low_stock_threshold),
      display: patch.display ?? current.display,
      viewers: patch.viewers ?? Boolean(current.viewers),
    };
    const shows = next.low_stock_threshold !== Number(current.low_stock_threshold) || next.display !== current.display;
    if (!shows && next.name === current.name && next.viewers === Boolean(current.viewers)) return this.#product(sku);
    await this.trx
      .updateTable('products')
      .set({ ...next, updated_at: now })
      .where('merchant_id', '=', this.merchantId)
      .where('sku', '=', sku)
      .execute();
    // The locked row carries the product's old settings: read it afresh before its next write.
    this.#locked.delete(sku);
    if (shows) {
      const row = await this.#bump(sku, 0, 0);
      await this.#record(toStockRecord(row), 'product', 0, 0, 'product settings changed');
    }
    return this.#product(sku);
  }

  async hold(input: HoldInput, retried = false): Promise<Reservation> {
    const { sku, quantity, ttlSeconds } = input;
    const row = await this.#write(sku, { reservedDelta: quantity });
    if (!row) {
      const current = await this.get(sku);
      if (!current) throw notFound(sku);
      if (!retried && (await this.expireStaleHolds(sku))) return this.hold(input, true);
      throw new StockwireError(
        'insufficient_stock',
        `Cannot hold ${quantity} of ${sku}: ${Math.max(0, current.onHand - current.reserved)} available.`,
      );
    }
    const id = newReservationId();
    await this.trx
      .insertInto('reservations')
      .values({ id, merchant_id: this.merchantId, sku, quantity, state: 'held', expires_at: nowPlusSeconds(this.trx, ttlSeconds) })
      .execute();
    await this.#record(toStockRecord(row), 'hold', 0, quantity, null, id);
    const reservation = await this.getReservation(id);
    if (!reservation) throw new Error(`reservation ${id} vanished in its own transaction`);
    return reservation;
  }

  /**
   * A combined group's writes (`write-combiner.ts`), already planned in arrival order on this
   * transaction's locked row (`get(sku, true)`): one UPDATE for all of them, then a journal row each,
   * at its own version and with its own Idempotency-Key, and a reservation row per hold. The public
   * version moves at most once for the whole group (the start noted when the row was locked).
   */
  async applyGroup(sku: string, writes: readonly GroupWrite[]): Promise<{ record: StockRecord; reservations: Map<GroupWrite, Reservation> }> {
    const onHandDelta = writes.reduce((sum, w) => sum + w.onHandDelta, 0);
    const reservedDelta = writes.reduce((sum, w) => sum + w.reservedDelta, 0);
    const row = await this.#bump(sku, onHandDelta, reservedDelta, writes.length);
    const holds = writes.filter((w) => w.ttlSeconds !== undefined);
    const reservations = new Map<GroupWrite, Reservation>();
    if (holds.length > 0) {
      const ids = holds.map(() => newReservationId());
      await this.trx
        .insertInto('reservations')
        .values(
          holds.map((w, i) => ({
            id: ids[i]!,
            merchant_id: this.merchantId,
            sku,
            quantity: w.reservedDelta,
            state: 'held' as const,
            expires_at: nowPlusSeconds(this.trx, w.ttlSeconds!),
          })),
        )
        .execute();
      // Read back (MySQL has no INSERT … RETURNING): the database's own times.
      const rows = await this.trx
        .selectFrom('reservations')
        .select(['id', 'merchant_id', 'sku', 'quantity', 'state', 'expires_at', 'created_at'])
        .where('id', 'in', ids)
        .execute();
      const byId = new Map(rows.map((r) => [r.id, toReservation(r)]));
      holds.forEach((w, i) => reservations.set(w, byId.get(ids[i]!)!));
    }
    await this.trx
      .insertInto('stock_journal')
      .values(
        writes.map((w) => ({
          merchant_id: this.merchantId,
          sku,
          version: w.version,
          kind: w.ttlSeconds === undefined ? ('adjust' as const) : ('hold' as const),
          on_hand_delta: w.onHandDelta,
          reserved_delta: w.reservedDelta,
          reason: w.reason ?? null,
          idempotency_key: w.idempotencyKey,
          reservation_id: reservations.get(w)?.id ?? null,
        })),
      )
      .execute();
    const record = toStockRecord(row);
    for (const w of writes) this.#noteStatus(sku, w.onHand, w.reserved, record.lowStockThreshold);
    this.#remember(record);
    return { record, reservations };
  }

  /** Turn a live hold into a sale: on-hand and reserved both drop by its quantity. */
  async commitReservation(id: string): Promise<Reservation> {
    const held = await this.#lockReservation(id);
    if (held.state !== 'held' || held.expired) {
      throw new StockwireError(
        'reservation_not_held',
        `Reservation ${id} is ${held.state === 'held' ? 'expired' : held.state}, not held.`,
      );
    }
    await this.#setReservationState(id, 'committed');
    const row = await this.#bump(held.sku, -held.quantity, -held.quantity);
    await this.#record(toStockRecord(row), 'commit', -held.quantity, -held.quantity, null, id);
    return toReservation(held, 'committed');
  }

  /** Give a hold back. Releasing a released or expired hold changes nothing; a committed one is a conflict. */
  async releaseReservation(id: string): Promise<Reservation> {
    const held = await this.#lockReservation(id);
    if (held.state === 'committed') {
      throw new StockwireError('reservation_not_held', `Reservation ${id} is committed, not held.`);
    }
    if (held.state !== 'held') return toReservation(held);
    const state: ReservationState = held.expired ? 'expired' : 'released';
    await this.#setReservationState(id, state);
    const row = await this.#bump(held.sku, 0, -held.quantity);
    await this.#record(toStockRecord(row), state === 'expired' ? 'expire' : 'release', 0, -held.quantity, null, id);
    return toReservation(held, state);
  }

  async getReservation(id: string): Promise<Reservation | null> {
    const row = await this.trx
      .selectFrom('reservations')
      .select(['id', 'merchant_id', 'sku', 'quantity', 'state', 'expires_at', 'created_at'])
      .where('merchant_id', '=', this.merchantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toReservation(row) : null;
  }

  /** Expire this product's holds whose time is up (before the sweeper gets there). True if any were. */
  async expireStaleHolds(sku: string): Promise<boolean> {
    // Locked, then marked: the same two statements on every database (MySQL has no UPDATE … RETURNING).
    const expired = await this.trx
      .selectFrom('reservations')
      .select(['id', 'quantity'])
      .where('merchant_id', '=', this.merchantId)
      .where('sku', '=', sku)
      .where('state', '=', 'held')
      .where('expires_at', '<=', now)
      .forUpdate()
      .execute();
    if (expired.length === 0) return false;
    await this.trx
      .updateTable('reservations')
      .set({ state: 'expired', updated_at: now })
      .where('id', 'in', expired.map((r) => r.id))
      .execute();
    await this.releaseExpired(sku, expired);
    return true;
  }

  /** Give back the quantity of holds already marked expired: one version, one journal row. */
  async releaseExpired(sku: string, holds: ReadonlyArray<{ id: string; quantity: number }>): Promise<void> {
    const total = holds.reduce((sum, h) => sum + Number(h.quantity), 0);
    const row = await this.#bump(sku, 0, -total);
    const reason = holds.length === 1 ? 'hold expired' : `${holds.length} holds expired`;
    await this.#record(toStockRecord(row), 'expire', 0, -total, reason, holds.length === 1 ? holds[0]!.id : null);
  }

  async #lockReservation(id: string): Promise<ReservationRow & { expired: boolean }> {
    const row = await this.trx
      .selectFrom('reservations')
      .select(['id', 'merchant_id', 'sku', 'quantity', 'state', 'expires_at', 'created_at'])
      .select(sql<boolean>`expires_at <= ${now}`.as('expired'))
      .where('merchant_id', '=', this.merchantId)
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    if (!row) throw new StockwireError('not_found', `No reservation ${id}.`);
    // MySQL answers a comparison as 0 or 1.
    return { ...row, expired: Boolean(row.expired) };
  }

  async #setReservationState(id: string, state: ReservationState): Promise<void> {
    await this.trx
      .updateTable('reservations')
      .set({ state, updated_at: now })
      .where('merchant_id', '=', this.merchantId)
      .where('id', '=', id)
      .execute();
  }

  /** Move the counts by these deltas; `versions` internal versions at once (a combined group takes one per write). */
  async #bump(sku: string, onHandDelta: number, reservedDelta: number, versions = 1): Promise<StockRow> {
    const row = await this.#write(sku, { onHandDelta, reservedDelta, versions });
    if (!row) throw new Error(`stock row for ${sku} refused a change that keeps it in bounds`);
    return row;
  }

  /**
   * The one UPDATE of a stock row: the new counts, version + 1 and the public version rule, only if
   * available stays >= 0 and on-hand <= MAX_QUANTITY (undefined: refused, nothing written). The
   * database's CHECK refuses available < 0 as well, whatever the caller checked.
   */
  async #write(sku: string, change: StockChange): Promise<StockRow | undefined> {
    const start = await this.#begin(sku);
    return isMysql(this.trx) ? this.#writeLocked(sku, change, start) : this.#writeInSql(sku, change, start);
  }

  async #writeInSql(sku: string, change: StockChange, start: PublicStart): Promise<StockRow | undefined> {
    const onHand =
      change.onHand === undefined ? sql<number>`s.on_hand + ${change.onHandDelta ?? 0}::integer` : sql<number>`${change.onHand}::integer`;
    const reserved = sql<number>`s.reserved + ${change.reservedDelta ?? 0}::integer`;
    return this.trx
      .updateTable('stock as s')
      .from('products as p')
      .set({
        on_hand: onHand,
        reserved,
        version: sql<number>`s.version + ${change.versions ?? 1}::integer`,
        ...publicVersionSet(faceSql(onHand, reserved), start, change.versions ?? 1),
        updated_at: now,
      })
      .whereRef('p.merchant_id', '=', 's.merchant_id')
      .whereRef('p.sku', '=', 's.sku')
      .where('s.merchant_id', '=', this.merchantId)
      .where('s.sku', '=', sku)
      .where(sql<boolean>`${onHand} >= ${reserved}`)
      .where(sql<boolean>`${onHand} <= ${MAX_QUANTITY}::integer`)
      .returning(stockColumns)
      .executeTakeFirst();
  }

  async #writeLocked(sku: string, change: StockChange, start: PublicStart): Promise<StockRow | undefined> {
    const current = this.#locked.get(sku) ?? (await this.#lockRow(sku));
    if (!current) throw notFound(sku);
    const onHand = change.onHand ?? current.on_hand + (change.onHandDelta ?? 0);
    const reserved = current.reserved + (change.reservedDelta ?? 0);
    if (onHand < reserved || onHand > MAX_QUANTITY) return undefined;
    const face = faceKey(publicFace(onHand - reserved, current.low_stock_threshold, current.display));
    const moved = face !== start.face;
    const version = current.version + (change.versions ?? 1);
    const next: LockedRow = {
      ...current,
      on_hand: onHand,
      reserved,
      version,
      public_version: start.version + (moved ? 1 : 0),
      public_face: face,
      public_changed_version: moved ? version : current.public_changed_version,
      updated_at: current.now,
    };
    const { numUpdatedRows } = await this.trx
      .updateTable('stock')
      .set({
        on_hand: next.on_hand,
        reserved: next.reserved,
        version: next.version,
        public_version: next.public_version,
        public_face: next.public_face,
        public_changed_version: next.public_changed_version,
        updated_at: next.updated_at,
      })
      .where('merchant_id', '=', this.merchantId)
      .where('sku', '=', sku)
      .where('version', '=', current.version)
      .executeTakeFirstOrThrow();
    if (numUpdatedRows !== 1n) throw new Error(`stock row for ${sku} changed under its lock`);
    this.#locked.set(sku, next);
    return next;
  }

  /** Insert product and stock row at version 1; null when another writer created it first. */
  async #create(sku: string, onHand: number, patch: ProductPatch, reason: string | undefined): Promise<ProductRecord | null> {
    if (!(await this.#insertProduct(sku, patch))) return null;
    const product = await this.trx
      .selectFrom('products')
      .selectAll()
      .where('merchant_id', '=', this.merchantId)
      .where('sku', '=', sku)
      .executeTakeFirstOrThrow();
    const face = faceKey(publicFace(onHand, Number(product.low_stock_threshold), product.display));
    await this.trx
      .insertInto('stock')
      .values({
        merchant_id: this.merchantId,
        sku,
        on_hand: onHand,
        reserved: 0,
        version: 1,
        public_version: 1,
        public_face: face,
        public_changed_version: 1,
      })
      .execute();
    // The row did not exist before this transaction, and nobody else can see it until COMMIT.
    this.#start.set(sku, createdStart);
    const record = await this.get(sku);
    if (!record) throw new Error(`stock row for ${sku} vanished in its own transaction`);
    await this.#record(record, 'create', onHand, 0, reason ?? null);
    return toProductRecord(product, record);
  }

  /**
   * Insert the product row; false when it exists (another writer may have created it a moment ago:
   * the INSERT waits for that writer's COMMIT). PostgreSQL would abort the transaction on the
   * duplicate, so it is told to do nothing; MySQL keeps the transaction and reports the duplicate.
   */
  async #insertProduct(sku: string, patch: ProductPatch): Promise<boolean> {
    await checkProductLimit(this.trx, this.merchantId, sku, this.defaultProductLimit);
    const insert = this.trx.insertInto('products').values({
      merchant_id: this.merchantId,
      sku,
      name: patch.name ?? null,
      low_stock_threshold: patch.lowStockThreshold,
      display: patch.display,
      viewers: patch.viewers,
    });
    if (!isMysql(this.trx)) {
      const { numInsertedOrUpdatedRows } = await insert.onConflict((c) => c.columns(['merchant_id', 'sku']).doNothing()).executeTakeFirstOrThrow();
      return numInsertedOrUpdatedRows === 1n;
    }
    try {
      await insert.execute();
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  async #product(sku: string): Promise<ProductRecord> {
    const product = await this.trx
      .selectFrom('products')
      .selectAll()
      .where('merchant_id', '=', this.merchantId)
      .where('sku', '=', sku)
      .executeTakeFirstOrThrow();
    const stock = await this.get(sku);
    if (!stock) throw new Error(`product ${sku} has no stock row`);
    return toProductRecord(product, stock);
  }

  /** The journal row for a change, written in the same transaction as the change itself. */
  async #record(
    record: StockRecord,
    kind: JournalKind,
    onHandDelta: number,
    reservedDelta: number,
    reason: string | null | undefined,
    reservationId: string | null = null,
  ): Promise<StockRecord> {
    await this.trx
      .insertInto('stock_journal')
      .values({
        merchant_id: record.merchantId,
        sku: record.sku,
        version: record.version,
        kind,
        on_hand_delta: onHandDelta,
        reserved_delta: reservedDelta,
        reason: reason ?? null,
        idempotency_key: this.idempotencyKey,
        reservation_id: reservationId,
      })
      .execute();
    this.#remember(record);
    return record;
  }

  #remember(record: StockRecord): void {
    // One merchant per transaction: the SKU names the product.
    this.#changed.delete(record.sku);
    this.#changed.set(record.sku, record);
    this.#noteStatus(record.sku, record.onHand, record.reserved, record.lowStockThreshold);
  }

  /** One write's public status, after the one before it (or the locked row's): an event when it moved so. */
  #noteStatus(sku: string, onHand: number, reserved: number, lowStockThreshold: number): void {
    const start = this.#start.get(sku);
    if (start === undefined) throw new Error(`write to ${sku} without its row locked first`);
    const before = this.#status.get(sku) ?? statusOfFaceKey(start.face);
    const available = Math.max(0, onHand - reserved);
    const status = statusOf(available, lowStockThreshold);
    this.#status.set(sku, status);
    const type = stockEventType(before, status);
    if (type !== null) this.#events.push({ type, sku, status, available, onHand });
  }
}

/** Its text is the same for every call (`ADJUST_ALONE` binds values only), so one name serves. */
const ADJUST_STATEMENT = 'stockwire_adjust_3';

interface AdjustValues extends Record<string, unknown> {
  readonly merchantId: string;
  readonly sku: string;
  readonly delta: number;
  readonly reason: string | null;
  readonly idempotencyKey: string | null;
}

interface AdjustInTransactionValues extends AdjustValues {
  readonly startVersion: number;
  readonly startFace: string;
}

/**
 * The statement of `adjustInOneStatement`: the conditional update, its journal row and, with `events`,
 * its webhook events. The event id is made in SQL, only for a write that has an event.
 */
function adjustStatement(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  db: Kysely<any>,
  p: Placeholders<AdjustValues>,
  start: PublicStart | undefined,
): RawBuilder<StockRow & { public_changed: boolean }> {
  const onHand = sql<number>`s.on_hand + ${p.delta}::integer`;
  const pub = publicVersionSet(faceSql(onHand, sql`s.reserved`), start);
  const event = stockEventSql(sql`s.on_hand - ${p.delta}::integer - s.reserved`, sql`s.on_hand - s.reserved`, sql`p.low_stock_threshold`);
  const events =
    start === undefined
      ? sql`, events as (${outboxInsert(
          db,
          p.merchantId,
          sql`select 0 as n, c.event_id, c.event_type as type, c.sku, split_part(c.public_face, ':', 1) as status,
                     greatest(c.on_hand - c.reserved, 0) as available, c.on_hand, c.public_version as version
                from changed as c where c.event_type is not null`,
        )})`
      : sql``;
  const eventId = start === undefined ? sql`, case when ${event} is not null then 'evt_' || replace(gen_random_uuid()::text, '-', '') end as event_id` : sql``;
  return sql<StockRow & { public_changed: boolean }>`
    with changed as (
      update stock as s
         set on_hand = ${onHand}, version = s.version + 1, public_version = ${pub.public_version},
             public_face = ${pub.public_face}, public_changed_version = ${pub.public_changed_version}, updated_at = ${now}
        from products as p
       where p.merchant_id = s.merchant_id and p.sku = s.sku
         and s.merchant_id = ${p.merchantId} and s.sku = ${p.sku}
         and ${onHand} >= s.reserved
         and ${onHand} <= ${MAX_QUANTITY}::integer
      returning s.merchant_id, s.sku, s.on_hand, s.reserved, s.version, s.public_version, s.updated_at, p.low_stock_threshold, p.display,
                s.public_changed_version = s.version as public_changed, s.public_face, ${event} as event_type${eventId}
    ), journal as (
      insert into stock_journal (merchant_id, sku, version, kind, on_hand_delta, reserved_delta, reason, idempotency_key)
      select merchant_id, sku, version, 'adjust', ${p.delta}::integer, 0, ${p.reason}::text, ${p.idempotencyKey}::text
        from changed
    )${events}
    select * from changed`;
}

const adjustNames = ['merchantId', 'sku', 'delta', 'reason', 'idempotencyKey'] as const;

/** An adjust that is its own transaction: it writes its events itself. */
const ADJUST_ALONE = new CompiledShape<AdjustValues>(adjustNames, (db, p) => adjustStatement(db, p, undefined).compile(db));

/** An adjust inside a `StockTransaction`, from the public version and face the transaction started at. */
const ADJUST_IN_TRANSACTION = new CompiledShape<AdjustInTransactionValues>([...adjustNames, 'startVersion', 'startFace'], (db, p) =>
  adjustStatement(db, p, { version: p.startVersion, face: p.startFace }).compile(db),
);

/**
 * The hot path: the conditional update, its journal row and, when it moves the public status so, its
 * event for each subscribed endpoint as ONE statement (a data-modifying CTE), so the row lock is held
 * for one statement only and an adjust needs one round trip outside a transaction. The public version
 * is decided in the same UPDATE (`publicVersionSet`). Returns null when the row refused (unknown SKU,
 * not enough stock, over the maximum). The statement is compiled once (`CompiledShape`): a call only
 * binds its values.
 *
 * With `start` it runs inside a `StockTransaction`, which writes the events itself (`writeEvents`).
 * The event is decided from the available count before (the new one less `delta`) and after, under
 * the row's lock (`stockEventSql`).
 *
 * `publicChanged`: this statement moved the public version (the store announces only such changes);
 * `hadEvent`: it moved the public status the way an event is sent for.
 */
export async function adjustInOneStatement(
  executor: Kysely<Database>,
  merchantId: string,
  sku: string,
  input: AdjustStockInput,
  idempotencyKey: string | null,
  start?: PublicStart,
  prepared?: PreparedStatements,
): Promise<{ record: StockRecord; publicChanged: boolean; hadEvent: boolean } | null> {
  const values: AdjustValues = { merchantId, sku, delta: input.delta, reason: input.reason ?? null, idempotencyKey };
  type Row = StockRow & { public_changed: boolean; event_type: string | null };
  let rows: Row[];
  if (start !== undefined) rows = (await executor.executeQuery(ADJUST_IN_TRANSACTION.bind<Row>(executor, { ...values, startVersion: start.version, startFace: start.face }))).rows;
  else if (prepared) rows = await prepared.rows<Row>(ADJUST_STATEMENT, ADJUST_ALONE.bind(executor, values));
  else rows = (await executor.executeQuery(ADJUST_ALONE.bind<Row>(executor, values))).rows;
  const row = rows[0];
  return row ? { record: toStockRecord(row), publicChanged: row.public_changed, hadEvent: row.event_type !== null } : null;
}

function notFound(sku: string): StockwireError {
  return new StockwireError('not_found', `No product ${sku}.`);
}

function versionConflict(sku: string, expected: number, actual: number): StockwireError {
  return new StockwireError('version_conflict', `${sku} is at version ${actual}, not ${expected}.`);
}
