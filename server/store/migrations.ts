import { sql, type Kysely, type Migration } from 'kysely';
import { mysqlConsoleSessions, mysqlInitial, mysqlMerchantLimitsAndUsage, mysqlPreviousPublishableKey, mysqlProductViewers, mysqlPublicVersion, mysqlWebhooks } from './mysql-migrations.js';
import { isMysql } from './sql-dialect.js';

/**
 * The one migration history for PostgreSQL, PGlite and MySQL/MariaDB, in code rather than files on
 * disk so the package works from any install location. Names sort in the order they apply; never edit
 * one that shipped. Where MySQL's SQL differs, a migration switches to its MySQL twin (`mysql-migrations.ts`),
 * which builds the same tables, keys and CHECKs in MySQL's types.
 */
export const migrations: Readonly<Record<string, Migration>> = {
  '0001_initial': {
    // Kysely hands migrations an untyped handle: the schema they build is what `Database` describes.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async up(db: Kysely<any>): Promise<void> {
      if (isMysql(db)) return mysqlInitial(db);
      await db.schema
        .createTable('merchants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('publishable_key', 'text', (c) => c.notNull().unique())
        .addColumn('secret_key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('allowed_origins', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();

      await db.schema
        .createTable('products')
        .addColumn('merchant_id', 'text', (c) => c.notNull().references('merchants.id').onDelete('cascade'))
        .addColumn('sku', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('low_stock_threshold', 'integer', (c) => c.notNull().defaultTo(5).check(sql`low_stock_threshold >= 0`))
        .addColumn('display', 'text', (c) =>
          c.notNull().defaultTo('exact').check(sql`display in ('exact', 'threshold', 'status')`),
        )
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint('products_pkey', ['merchant_id', 'sku'])
        .execute();

      // The database itself refuses to oversell: available = on_hand - reserved never goes below zero.
      await db.schema
        .createTable('stock')
        .addColumn('merchant_id', 'text', (c) => c.notNull())
        .addColumn('sku', 'text', (c) => c.notNull())
        .addColumn('on_hand', 'integer', (c) => c.notNull())
        .addColumn('reserved', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint('stock_pkey', ['merchant_id', 'sku'])
        .addForeignKeyConstraint('stock_product_fkey', ['merchant_id', 'sku'], 'products', ['merchant_id', 'sku'], (c) =>
          c.onDelete('cascade'),
        )
        .addCheckConstraint('stock_reserved_non_negative', sql`reserved >= 0`)
        .addCheckConstraint('stock_available_non_negative', sql`on_hand - reserved >= 0`)
        .addCheckConstraint('stock_version_positive', sql`version >= 1`)
        .execute();

      await db.schema
        .createTable('stock_journal')
        .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
        .addColumn('merchant_id', 'text', (c) => c.notNull())
        .addColumn('sku', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('on_hand_delta', 'integer', (c) => c.notNull())
        .addColumn('reserved_delta', 'integer', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('idempotency_key', 'text')
        .addColumn('reservation_id', 'text')
        .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createIndex('stock_journal_product_idx')
        .on('stock_journal')
        .columns(['merchant_id', 'sku', 'version'])
        .execute();

      await db.schema
        .createTable('reservations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('merchant_id', 'text', (c) => c.notNull())
        .addColumn('sku', 'text', (c) => c.notNull())
        .addColumn('quantity', 'integer', (c) => c.notNull().check(sql`quantity > 0`))
        .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('held', 'committed', 'released', 'expired')`))
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addForeignKeyConstraint('reservations_stock_fkey', ['merchant_id', 'sku'], 'stock', ['merchant_id', 'sku'], (c) =>
          c.onDelete('cascade'),
        )
        .execute();
      // Only live holds are ever searched: by expiry (the sweeper) and by product (reads and writes).
      await db.schema
        .createIndex('reservations_held_expiry_idx')
        .on('reservations')
        .column('expires_at')
        .where(sql.ref('state'), '=', 'held')
        .execute();
      await db.schema
        .createIndex('reservations_held_product_idx')
        .on('reservations')
        .columns(['merchant_id', 'sku', 'expires_at'])
        .where(sql.ref('state'), '=', 'held')
        .execute();

      await db.schema
        .createTable('idempotency_keys')
        .addColumn('merchant_id', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('status', 'integer')
        .addColumn('body', 'jsonb')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('idempotency_keys_pkey', ['merchant_id', 'key'])
        .execute();
      await db.schema.createIndex('idempotency_keys_expiry_idx').on('idempotency_keys').column('expires_at').execute();
    },
  },
  '0002_public_version': {
    // The public version (`stock/public-face.ts`) and the face it stands for. Existing rows start at
    // their internal version, the highest number any client can hold (every public path carried the
    // internal version until now), so the next change is never ignored and nobody goes backwards.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async up(db: Kysely<any>): Promise<void> {
      if (isMysql(db)) return mysqlPublicVersion(db);
      // `faceKey(publicFace(…))` of `stock/public-face.ts`, as one inlinable SQL expression (no clamping:
      // a CHECK keeps available >= 0). A change to the rule is a new migration replacing it.
      await sql`
        create or replace function stockwire_public_face(available integer, threshold integer, display text)
        returns text language sql immutable parallel safe as $$
          select case
            when available <= 0 then case when display = 'status' then 'sold_out' else 'sold_out:0' end
            when available <= threshold then case when display = 'status' then 'low_stock' else 'low_stock:' || available::text end
            else case when display = 'exact' then 'in_stock:' || available::text else 'in_stock' end
          end
        $$`.execute(db);
      await db.schema.alterTable('stock').addColumn('public_version', 'integer').execute();
      await db.schema.alterTable('stock').addColumn('public_face', 'text').execute();
      await db.schema.alterTable('stock').addColumn('public_changed_version', 'integer').execute();
      await sql`
        update stock as s
           set public_version = s.version,
               public_face = stockwire_public_face(s.on_hand - s.reserved, p.low_stock_threshold, p.display),
               public_changed_version = s.version
          from products as p
         where p.merchant_id = s.merchant_id and p.sku = s.sku`.execute(db);
      await db.schema.alterTable('stock').alterColumn('public_version', (c) => c.setNotNull()).execute();
      await db.schema.alterTable('stock').alterColumn('public_face', (c) => c.setNotNull()).execute();
      await db.schema.alterTable('stock').alterColumn('public_changed_version', (c) => c.setNotNull()).execute();
      await db.schema
        .alterTable('stock')
        .addCheckConstraint('stock_public_version_positive', sql`public_version >= 1`)
        .execute();
    },
  },
  '0003_webhooks': {
    // Events out (`server/webhooks/`): subscriptions, one outbox row per event and endpoint, and the
    // last attempts. Events were written by a trigger on `stock` until `0006_webhook_events`.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async up(db: Kysely<any>): Promise<void> {
      // MySQL/MariaDB get these tables in `0006_webhook_events`.
      if (isMysql(db)) return;
      await sql`
        create table webhooks (
          id text primary key,
          merchant_id text not null references merchants(id) on delete cascade,
          url text not null,
          events text[] not null,
          secret text not null,
          previous_secret text,
          previous_secret_expires_at timestamptz,
          failing_since timestamptz,
          disabled_at timestamptz,
          disabled_reason text,
          created_at timestamptz not null default now()
        )`.execute(db);
      await sql`create index webhooks_merchant_idx on webhooks (merchant_id)`.execute(db);
      await sql`
        create table webhook_outbox (
          id bigint generated always as identity primary key,
          webhook_id text not null references webhooks(id) on delete cascade,
          merchant_id text not null,
          event_id text not null,
          type text not null,
          sku text not null,
          status text not null,
          available integer not null,
          on_hand integer not null,
          version integer not null,
          created_at timestamptz not null default now(),
          state text not null default 'pending' check (state in ('pending', 'delivered', 'failed')),
          attempts integer not null default 0,
          next_attempt_at timestamptz not null default now()
        )`.execute(db);
      // Due events, and per endpoint and product the oldest pending one (order per product).
      await sql`create index webhook_outbox_due_idx on webhook_outbox (next_attempt_at) where state = 'pending'`.execute(db);
      await sql`create index webhook_outbox_order_idx on webhook_outbox (webhook_id, sku, id) where state = 'pending'`.execute(db);
      await sql`create index webhook_outbox_merchant_idx on webhook_outbox (merchant_id) where state = 'pending'`.execute(db);
      await sql`
        create table webhook_attempts (
          id text primary key,
          webhook_id text not null references webhooks(id) on delete cascade,
          outbox_id bigint not null references webhook_outbox(id) on delete cascade,
          attempt integer not null,
          status_code integer,
          error text,
          duration_ms integer not null,
          at timestamptz not null default now()
        )`.execute(db);
      await sql`create index webhook_attempts_webhook_idx on webhook_attempts (webhook_id, at desc)`.execute(db);
      await sql`create index webhook_attempts_outbox_idx on webhook_attempts (outbox_id)`.execute(db);
      // The status is the part of the public face before ':' (`faceKey`). The trigger's WHEN runs
      // without entering PL/pgSQL, so a write that keeps the status costs one comparison; the first
      // write of a product is an INSERT and emits nothing (from `unknown`).
      await sql`
        create function stockwire_stock_events() returns trigger language plpgsql as $$
        declare
          before_status text := split_part(old.public_face, ':', 1);
          after_status text := split_part(new.public_face, ':', 1);
          kind text;
          event_id text;
        begin
          kind := case
            when after_status = 'sold_out' then 'stock.sold_out'
            when before_status = 'sold_out' then 'stock.back_in_stock'
            when before_status = 'in_stock' and after_status = 'low_stock' then 'stock.low_stock'
          end;
          if kind is null then return null; end if;
          event_id := 'evt_' || replace(gen_random_uuid()::text, '-', '');
          insert into webhook_outbox (webhook_id, merchant_id, event_id, type, sku, status, available, on_hand, version)
          select w.id, new.merchant_id, event_id, kind, new.sku, after_status,
                 greatest(new.on_hand - new.reserved, 0), new.on_hand, new.public_version
            from webhooks as w
           where w.merchant_id = new.merchant_id and kind = any (w.events) and w.disabled_at is null;
          return null;
        end
        $$`.execute(db);
      await sql`
        create trigger stock_webhook_events after update of public_face on stock
          for each row
          when (split_part(old.public_face, ':', 1) is distinct from split_part(new.public_face, ':', 1))
          execute function stockwire_stock_events()`.execute(db);
    },
  },
  '0004_previous_publishable_key': {
    // A rotated publishable key keeps working until `previous_publishable_until` (PUBLISHABLE_KEY_GRACE_HOURS):
    // shop pages carry it and are edited by hand. One previous key per merchant; the next rotation replaces it.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async up(db: Kysely<any>): Promise<void> {
      if (isMysql(db)) return mysqlPreviousPublishableKey(db);
      await db.schema.alterTable('merchants').addColumn('previous_publishable_key', 'text', (c) => c.unique()).execute();
      await db.schema.alterTable('merchants').addColumn('previous_publishable_until', 'timestamptz').execute();
    },
  },
  '0005_product_viewers': {
    // A product opts in to live viewer counts (`viewers` frames); none does until its merchant says so.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async up(db: Kysely<any>): Promise<void> {
      if (isMysql(db)) return mysqlProductViewers(db);
      await db.schema.alterTable('products').addColumn('viewers', 'boolean', (c) => c.notNull().defaultTo(false)).execute();
    },
  },
  '0006_webhook_events': {
    // Events are written by the writes themselves (`StockTransaction`, `stock-event-outbox.ts`) on every
    // database, one per write whose public status moved, each item of a combined group included: the
    // trigger of 0003 saw one UPDATE per group, so it merged them. MySQL gets the tables 0003 left out.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async up(db: Kysely<any>): Promise<void> {
      if (isMysql(db)) return mysqlWebhooks(db);
      await sql`drop trigger if exists stock_webhook_events on stock`.execute(db);
      await sql`drop function if exists stockwire_stock_events()`.execute(db);
    },
  },
  '0007_merchant_limits_and_usage': {
    // Per-merchant limits an admin set (null: the platform default), usage per merchant and UTC day
    // (`day` is 'YYYY-MM-DD' text, the same on every driver), and the origins whose pages opened
    // sockets. All go with their merchant.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async up(db: Kysely<any>): Promise<void> {
      if (isMysql(db)) return mysqlMerchantLimitsAndUsage(db);
      await sql`
        create table merchant_limits (
          merchant_id text primary key references merchants(id) on delete cascade,
          connections integer check (connections >= 0),
          products integer check (products >= 0),
          writes_per_minute integer check (writes_per_minute >= 0)
        )`.execute(db);
      await sql`
        create table merchant_usage (
          merchant_id text not null references merchants(id) on delete cascade,
          day text not null,
          api_calls bigint not null default 0,
          writes bigint not null default 0,
          frames bigint not null default 0,
          peak_connections integer not null default 0,
          primary key (merchant_id, day)
        )`.execute(db);
      await sql`create index merchant_usage_day_idx on merchant_usage (day)`.execute(db);
      await sql`
        create table merchant_origins (
          merchant_id text not null references merchants(id) on delete cascade,
          origin text not null,
          last_seen_at timestamptz not null,
          primary key (merchant_id, origin)
        )`.execute(db);
      await sql`create index merchant_origins_seen_idx on merchant_origins (last_seen_at)`.execute(db);
    },
  },
  '0008_console_sessions': {
    // Merchant console sign-ins, by the SHA-256 of their token (the token itself lives only in the
    // browser's cookie). `key_hash` is the secret key's hash at sign-in: a rotation ends the session.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async up(db: Kysely<any>): Promise<void> {
      if (isMysql(db)) return mysqlConsoleSessions(db);
      await db.schema
        .createTable('console_sessions')
        .addColumn('token_hash', 'text', (c) => c.primaryKey())
        .addColumn('merchant_id', 'text', (c) => c.notNull().references('merchants.id').onDelete('cascade'))
        .addColumn('key_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('last_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('console_sessions_merchant_idx').on('console_sessions').column('merchant_id').execute();
    },
  },
};
