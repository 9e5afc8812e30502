import { sql, type Kysely, type RawBuilder } from 'kysely';
import { unknownFace, faceKey } from '../stock/public-face.js';
import { isMysql } from './sql-dialect.js';

/**
 * `faceKey(publicFace(onHand - reserved, threshold, display))` in SQL: the database function
 * `stockwire_public_face` (migration `0002_public_version`), so an UPDATE compares the face it leaves
 * with the stored one (`stock.public_face`) in the same statement: the public version is decided
 * atomically with the write, with no read-then-write race. The function is one SQL expression, which
 * PostgreSQL inlines; as a call it keeps the hot-path statement short to send, parse and plan. Its
 * equivalence with the TypeScript rule is tested over every policy (`public-face-sql.test.ts`).
 */
export function faceSql(
  onHand: RawBuilder<number>,
  reserved: RawBuilder<number>,
  threshold: RawBuilder<number> = sql<number>`p.low_stock_threshold`,
  display: RawBuilder<string> = sql<string>`p.display`,
): RawBuilder<string> {
  return sql<string>`stockwire_public_face((${onHand}) - (${reserved}), ${threshold}, ${display})`;
}

/**
 * The same rule on either family: PostgreSQL calls its function; MySQL, which has none (its writes
 * decide the face in TypeScript under the row lock), spells the rule out as one CASE expression.
 * Used where SQL must compute faces on MySQL too (the migration's backfill), and tested alike.
 */
export function faceExpression(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  db: Kysely<any>,
  onHand: RawBuilder<number>,
  reserved: RawBuilder<number>,
  threshold: RawBuilder<number> = sql<number>`p.low_stock_threshold`,
  display: RawBuilder<string> = sql<string>`p.display`,
): RawBuilder<string> {
  if (!isMysql(db)) return faceSql(onHand, reserved, threshold, display);
  const available = sql<number>`((${onHand}) - (${reserved}))`;
  return sql<string>`case
    when ${available} <= 0 then case when ${display} = 'status' then 'sold_out' else 'sold_out:0' end
    when ${available} <= ${threshold} then case when ${display} = 'status' then 'low_stock' else concat('low_stock:', ${available}) end
    else case when ${display} = 'exact' then concat('in_stock:', ${available}) else 'in_stock' end
  end`;
}

/** The public version and face a transaction started from, for a product it has locked. */
export interface PublicStart {
  readonly version: number;
  readonly face: string;
}

/** A product created in this transaction starts from the unknown SKU at public version 0. */
export const createdStart: PublicStart = Object.freeze({ version: 0, face: faceKey(unknownFace) });

/**
 * The SET of the public columns for a write leaving the face `next`: `public_version` is one more than
 * at the start when the face differs from the start's, else the start's. `start` omitted means the
 * row's own values before this statement (a write that is its own transaction); given, it is what
 * the transaction saw when it locked the row, so several writes to one product in one transaction
 * (a batch, an expiry before a retry) add at most one, and none when the face ends as it began.
 * `public_changed_version` becomes the new internal version when the public version moved, so the
 * one-statement path can tell from its RETURNING row alone (`public_changed_version = version`).
 * `versions`: how many internal versions the statement adds (a combined group adds one per item).
 */
export function publicVersionSet(
  next: RawBuilder<string>,
  start?: PublicStart,
  versions = 1,
): { public_version: RawBuilder<number>; public_face: RawBuilder<string>; public_changed_version: RawBuilder<number> } {
  const version = start === undefined ? sql<number>`s.public_version` : sql<number>`${start.version}::integer`;
  const face = start === undefined ? sql<string>`s.public_face` : sql<string>`${start.face}::text`;
  const moved = sql<boolean>`${next} is distinct from ${face}`;
  return {
    public_version: sql<number>`${version} + case when ${moved} then 1 else 0 end`,
    public_face: next,
    public_changed_version: sql<number>`case when ${moved} then s.version + ${sql.lit(versions)} else s.public_changed_version end`,
  };
}
