import type { ColumnType, Generated } from 'kysely';
import { stockEventTypes, type StockEventType } from '../stock/stock-events.js';
import type { DisplayPolicy } from '../stock/types.js';

/** Kysely's view of the tables created by `migrations.ts`. Column names are the database's (snake_case). */
export interface Database {
  merchants: MerchantsTable;
  products: ProductsTable;
  stock: StockTable;
  stock_journal: StockJournalTable;
  reservations: ReservationsTable;
  idempotency_keys: IdempotencyKeysTable;
  webhooks: WebhooksTable;
  webhook_outbox: WebhookOutboxTable;
  webhook_attempts: WebhookAttemptsTable;
  merchant_limits: MerchantLimitsTable;
  merchant_usage: MerchantUsageTable;
  merchant_origins: MerchantOriginsTable;
  console_sessions: ConsoleSessionsTable;
}

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;

export interface MerchantsTable {
  id: string;
  name: string;
  publishable_key: string;
  /** sha256 hex of the secret key; the key itself is shown once and never stored. */
  secret_key_hash: string;
  allowed_origins: ColumnType<string[], string[], string[]>;
  /** The publishable key before the last rotation, accepted until `previous_publishable_until`. */
  previous_publishable_key: ColumnType<string | null, string | null | undefined, string | null>;
  previous_publishable_until: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  created_at: CreatedAt;
}

export interface ProductsTable {
  merchant_id: string;
  sku: string;
  name: string | null;
  low_stock_threshold: ColumnType<number, number | undefined, number>;
  display: ColumnType<DisplayPolicy, DisplayPolicy | undefined, DisplayPolicy>;
  /** Opted in to live viewer counts. MySQL answers 0 or 1: read it through `Boolean()`. */
  viewers: ColumnType<boolean | number, boolean | undefined, boolean>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface StockTable {
  merchant_id: string;
  sku: string;
  on_hand: number;
  reserved: ColumnType<number, number | undefined, number>;
  version: number;
  /** What publishable keys, sockets and the bus carry as `version` (`stock/public-face.ts`). */
  public_version: number;
  /** `faceKey` of the face at `public_version`: what the next write compares its face with. */
  public_face: string;
  /** The internal version of the last write that moved `public_version`: tells a one-statement write whether it did. */
  public_changed_version: number;
  updated_at: UpdatedAt;
}

export const journalKinds = ['create', 'set', 'adjust', 'product', 'hold', 'commit', 'release', 'expire'] as const;
export type JournalKind = (typeof journalKinds)[number];

export interface StockJournalTable {
  id: Generated<string>;
  merchant_id: string;
  sku: string;
  version: number;
  kind: JournalKind;
  on_hand_delta: number;
  reserved_delta: number;
  reason: string | null;
  idempotency_key: string | null;
  reservation_id: string | null;
  at: CreatedAt;
}

export const reservationStates = ['held', 'committed', 'released', 'expired'] as const;
export type ReservationState = (typeof reservationStates)[number];

export interface ReservationsTable {
  id: string;
  merchant_id: string;
  sku: string;
  quantity: number;
  state: ReservationState;
  expires_at: ColumnType<Date, Date | string, Date | string>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface IdempotencyKeysTable {
  merchant_id: string;
  key: string;
  /** sha256 of method, route and body: the same key with another request is a conflict. */
  fingerprint: string;
  /** null while the first request is still running inside its transaction. */
  status: number | null;
  body: ColumnType<unknown, string | null, string | null>;
  created_at: UpdatedAt;
  expires_at: ColumnType<Date, Date | string, Date | string>;
}

/** What a webhook subscribes to: the events of `stock/stock-events.ts`. */
export const webhookEventTypes = stockEventTypes;
export type WebhookEventType = StockEventType;

type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface WebhooksTable {
  id: string;
  merchant_id: string;
  url: string;
  events: ColumnType<WebhookEventType[], WebhookEventType[], WebhookEventType[]>;
  /** Kept in clear: every delivery is signed with it. */
  secret: string;
  /** The secret before the last rotation, still signing until `previous_secret_expires_at`. */
  previous_secret: string | null;
  previous_secret_expires_at: Timestamp | null;
  /** When the current run of failed attempts began; null after any success. */
  failing_since: Timestamp | null;
  disabled_at: Timestamp | null;
  disabled_reason: string | null;
  created_at: CreatedAt;
}

export const outboxStates = ['pending', 'delivered', 'failed'] as const;
export type OutboxState = (typeof outboxStates)[number];

/** One event for one endpoint, written in the stock change's own transaction (`stock-event-outbox.ts`). */
export interface WebhookOutboxTable {
  id: Generated<string>;
  webhook_id: string;
  merchant_id: string;
  event_id: string;
  type: WebhookEventType;
  sku: string;
  status: string;
  available: number;
  on_hand: number;
  version: number;
  /** When it was written; a manual retry starts its retry window again from now. */
  created_at: UpdatedAt;
  state: ColumnType<OutboxState, OutboxState | undefined, OutboxState>;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface WebhookAttemptsTable {
  id: string;
  webhook_id: string;
  outbox_id: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  at: CreatedAt;
}

/** Limits an admin set for one merchant; null: the platform default (`MERCHANT_*`). */
export interface MerchantLimitsTable {
  merchant_id: string;
  connections: number | null;
  products: number | null;
  writes_per_minute: number | null;
}

/** What one merchant used on one UTC day, added to by every node. */
export interface MerchantUsageTable {
  merchant_id: string;
  /** 'YYYY-MM-DD' (UTC). */
  day: string;
  api_calls: ColumnType<string | number, number | undefined, number>;
  writes: ColumnType<string | number, number | undefined, number>;
  frames: ColumnType<string | number, number | undefined, number>;
  peak_connections: ColumnType<number, number | undefined, number>;
}

/** An origin whose page opened a socket for the merchant, and when last. */
export interface MerchantOriginsTable {
  merchant_id: string;
  origin: string;
  last_seen_at: ColumnType<Date, Date | string, Date | string>;
}

/** A merchant console sign-in (`server/access/console-session.ts`). */
export interface ConsoleSessionsTable {
  /** SHA-256 hex of the session token; the token is only in the browser's cookie. */
  token_hash: string;
  merchant_id: string;
  /** The merchant's `secret_key_hash` at sign-in: once the key is rotated, the session no longer matches. */
  key_hash: string;
  created_at: CreatedAt;
  last_seen_at: ColumnType<Date, Date | string | undefined, Date | string>;
  /** The latest the session can last, however active (CONSOLE_SESSION_MAX_HOURS). */
  expires_at: ColumnType<Date, Date | string, Date | string>;
}
