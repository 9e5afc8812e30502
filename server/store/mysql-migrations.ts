import { sql, type Kysely } from 'kysely';
import { faceExpression } from './public-face-sql.js';

/**
 * The MySQL/MariaDB twins of the migrations in `migrations.ts` (same names, same order, one history):
 * the same tables, keys and CHECK constraints in MySQL's types. Text keys are `varchar` (MySQL indexes
 * no unbounded text) in the binary collation, so SKUs compare as exactly as on PostgreSQL ('a' is not
 * 'A'); times are UTC `datetime(6)`; lists and answers are JSON. MariaDB (10.2+) and MySQL (8.0.16+)
 * enforce CHECK constraints, so the database itself still refuses available < 0.
 */

const table = sql.raw('engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin');

// Kysely hands migrations an untyped handle: the schema they build is what `Database` describes.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function mysqlInitial(db: Kysely<any>): Promise<void> {
  await sql`
    create table merchants (
      id varchar(64) not null primary key,
      name text not null,
      publishable_key varchar(255) not null unique,
      secret_key_hash varchar(64) not null unique,
      allowed_origins json not null default ('[]'),
      created_at datetime(6) not null default current_timestamp(6)
    ) ${table}`.execute(db);

  // SKUs up to 512 characters (SKU_MAX_LENGTH's ceiling): with the merchant id, within InnoDB's key size.
  await sql`
    create table products (
      merchant_id varchar(64) not null,
      sku varchar(512) not null,
      name text,
      low_stock_threshold integer not null default 5,
      display varchar(16) not null default 'exact',
      created_at datetime(6) not null default current_timestamp(6),
      updated_at datetime(6) not null default current_timestamp(6),
      primary key (merchant_id, sku),
      constraint products_merchant_fkey foreign key (merchant_id) references merchants (id) on delete cascade,
      constraint products_threshold_non_negative check (low_stock_threshold >= 0),
      constraint products_display check (display in ('exact', 'threshold', 'status'))
    ) ${table}`.execute(db);

  // The database itself refuses to oversell: available = on_hand - reserved never goes below zero.
  await sql`
    create table stock (
      merchant_id varchar(64) not null,
      sku varchar(512) not null,
      on_hand integer not null,
      reserved integer not null default 0,
      version integer not null,
      updated_at datetime(6) not null default current_timestamp(6),
      primary key (merchant_id, sku),
      constraint stock_product_fkey foreign key (merchant_id, sku) references products (merchant_id, sku) on delete cascade,
      constraint stock_reserved_non_negative check (reserved >= 0),
      constraint stock_available_non_negative check (on_hand - reserved >= 0),
      constraint stock_version_positive check (version >= 1)
    ) ${table}`.execute(db);

  await sql`
    create table stock_journal (
      id bigint not null auto_increment primary key,
      merchant_id varchar(64) not null,
      sku varchar(512) not null,
      version integer not null,
      kind varchar(16) not null,
      on_hand_delta integer not null,
      reserved_delta integer not null,
      reason text,
      idempotency_key varchar(255),
      reservation_id varchar(64),
      at datetime(6) not null default current_timestamp(6),
      key stock_journal_product_idx (merchant_id, sku, version)
    ) ${table}`.execute(db);

  // MySQL has no partial indexes: the state leads, so only live holds are searched all the same.
  await sql`
    create table reservations (
      id varchar(64) not null primary key,
      merchant_id varchar(64) not null,
      sku varchar(512) not null,
      quantity integer not null,
      state varchar(16) not null,
      expires_at datetime(6) not null,
      created_at datetime(6) not null default current_timestamp(6),
      updated_at datetime(6) not null default current_timestamp(6),
      key reservations_held_expiry_idx (state, expires_at),
      key reservations_held_product_idx (merchant_id, sku, state, expires_at),
      constraint reservations_stock_fkey foreign key (merchant_id, sku) references stock (merchant_id, sku) on delete cascade,
      constraint reservations_quantity_positive check (quantity > 0),
      constraint reservations_state check (state in ('held', 'committed', 'released', 'expired'))
    ) ${table}`.execute(db);

  await sql`
    create table idempotency_keys (
      merchant_id varchar(64) not null,
      \`key\` varchar(255) not null,
      fingerprint varchar(255) not null,
      status integer,
      body json,
      created_at datetime(6) not null default current_timestamp(6),
      expires_at datetime(6) not null,
      primary key (merchant_id, \`key\`),
      key idempotency_keys_expiry_idx (expires_at)
    ) ${table}`.execute(db);
}

/**
 * `0002_public_version` on MySQL. The face rule is not a stored function here: MySQL writes decide
 * the face in TypeScript under the row lock (`stock-transaction.ts`), and the backfill uses the rule
 * as one SQL expression (`faceExpression`).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function mysqlPublicVersion(db: Kysely<any>): Promise<void> {
  await sql`
    alter table stock
      add column public_version integer,
      add column public_face varchar(64),
      add column public_changed_version integer`.execute(db);
  await sql`
    update stock as s inner join products as p on p.merchant_id = s.merchant_id and p.sku = s.sku
       set s.public_version = s.version,
           s.public_face = ${faceExpression(db, sql`s.on_hand`, sql`s.reserved`)},
           s.public_changed_version = s.version`.execute(db);
  await sql`
    alter table stock
      modify public_version integer not null,
      modify public_face varchar(64) not null,
      modify public_changed_version integer not null,
      add constraint stock_public_version_positive check (public_version >= 1)`.execute(db);
}

/** `0004_previous_publishable_key` on MySQL: the key column is a varchar so it can be indexed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function mysqlPreviousPublishableKey(db: Kysely<any>): Promise<void> {
  await sql`
    alter table merchants
      add column previous_publishable_key varchar(255) null unique,
      add column previous_publishable_until datetime(6) null`.execute(db);
}

/** `0005_product_viewers` on MySQL: `boolean` is `tinyint(1)` there, read back as 0 or 1. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function mysqlProductViewers(db: Kysely<any>): Promise<void> {
  await sql`alter table products add column viewers boolean not null default false`.execute(db);
}

/**
 * `0006_webhook_events` on MySQL: the tables of events out (`server/webhooks/`), as migration
 * `0003_webhooks` made them on PostgreSQL. MySQL has no partial indexes, so the state leads the due
 * and per-product order indexes; events are written by the writes themselves (`stock-event-outbox.ts`).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function mysqlWebhooks(db: Kysely<any>): Promise<void> {
  await sql`
    create table webhooks (
      id varchar(64) not null primary key,
      merchant_id varchar(64) not null,
      url text not null,
      events json not null,
      secret varchar(255) not null,
      previous_secret varchar(255),
      previous_secret_expires_at datetime(6),
      failing_since datetime(6),
      disabled_at datetime(6),
      disabled_reason text,
      created_at datetime(6) not null default current_timestamp(6),
      key webhooks_merchant_idx (merchant_id),
      constraint webhooks_merchant_fkey foreign key (merchant_id) references merchants (id) on delete cascade
    ) ${table}`.execute(db);
  await sql`
    create table webhook_outbox (
      id bigint not null auto_increment primary key,
      webhook_id varchar(64) not null,
      merchant_id varchar(64) not null,
      event_id varchar(64) not null,
      type varchar(32) not null,
      sku varchar(512) not null,
      status varchar(16) not null,
      available integer not null,
      on_hand integer not null,
      version integer not null,
      created_at datetime(6) not null default current_timestamp(6),
      state varchar(16) not null default 'pending',
      attempts integer not null default 0,
      next_attempt_at datetime(6) not null default current_timestamp(6),
      key webhook_outbox_due_idx (state, next_attempt_at),
      key webhook_outbox_order_idx (webhook_id, sku, state, id),
      key webhook_outbox_merchant_idx (merchant_id, state),
      constraint webhook_outbox_webhook_fkey foreign key (webhook_id) references webhooks (id) on delete cascade,
      constraint webhook_outbox_state check (state in ('pending', 'delivered', 'failed'))
    ) ${table}`.execute(db);
  await sql`
    create table webhook_attempts (
      id varchar(64) not null primary key,
      webhook_id varchar(64) not null,
      outbox_id bigint not null,
      attempt integer not null,
      status_code integer,
      error text,
      duration_ms integer not null,
      at datetime(6) not null default current_timestamp(6),
      key webhook_attempts_webhook_idx (webhook_id, at),
      key webhook_attempts_outbox_idx (outbox_id),
      constraint webhook_attempts_webhook_fkey foreign key (webhook_id) references webhooks (id) on delete cascade,
      constraint webhook_attempts_outbox_fkey foreign key (outbox_id) references webhook_outbox (id) on delete cascade
    ) ${table}`.execute(db);
}

/** `0007_merchant_limits_and_usage` on MySQL. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function mysqlMerchantLimitsAndUsage(db: Kysely<any>): Promise<void> {
  await sql`
    create table merchant_limits (
      merchant_id varchar(64) not null primary key,
      connections integer null,
      products integer null,
      writes_per_minute integer null,
      constraint merchant_limits_merchant_fkey foreign key (merchant_id) references merchants (id) on delete cascade,
      constraint merchant_limits_non_negative check (connections >= 0 and products >= 0 and writes_per_minute >= 0)
    ) ${table}`.execute(db);
  await sql`
    create table merchant_usage (
      merchant_id varchar(64) not null,
      day char(10) not null,
      api_calls bigint not null default 0,
      writes bigint not null default 0,
      frames bigint not null default 0,
      peak_connections integer not null default 0,
      primary key (merchant_id, day),
      key merchant_usage_day_idx (day),
      constraint merchant_usage_merchant_fkey foreign key (merchant_id) references merchants (id) on delete cascade
    ) ${table}`.execute(db);
  await sql`
    create table merchant_origins (
      merchant_id varchar(64) not null,
      origin varchar(300) not null,
      last_seen_at datetime(6) not null,
      primary key (merchant_id, origin),
      key merchant_origins_seen_idx (last_seen_at),
      constraint merchant_origins_merchant_fkey foreign key (merchant_id) references merchants (id) on delete cascade
    ) ${table}`.execute(db);
}

/** `0008_console_sessions` on MySQL. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function mysqlConsoleSessions(db: Kysely<any>): Promise<void> {
  await sql`
    create table console_sessions (
      token_hash varchar(64) not null primary key,
      merchant_id varchar(64) not null,
      key_hash varchar(64) not null,
      created_at datetime(6) not null default current_timestamp(6),
      last_seen_at datetime(6) not null default current_timestamp(6),
      expires_at datetime(6) not null,
      key console_sessions_merchant_idx (merchant_id),
      constraint console_sessions_merchant_fkey foreign key (merchant_id) references merchants (id) on delete cascade
    ) ${table}`.execute(db);
}
