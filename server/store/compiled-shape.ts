import { createQueryId, type CompiledQuery, type Kysely, type RootOperationNode } from 'kysely';

/** A named parameter of a shape: `build` gets one per name and places it where the value goes. */
class Slot {
  constructor(readonly name: string) {}
}

/** Stands for a value of type `T` inside `build`; only `bind` gives it one. */
export type Placeholders<P> = { readonly [K in keyof P]: P[K] };

interface Compiled<P> {
  readonly sql: string;
  readonly query: RootOperationNode;
  /** The parameters that are the same on every call (literal values `build` wrote itself). */
  readonly fixed: readonly unknown[];
  /** Positions of the named parameters in the parameter list. */
  readonly slots: ReadonlyArray<readonly [number, keyof P]>;
}

/**
 * A query whose text never changes, only its parameters: `build` makes and compiles it once per
 * dialect, and each call only binds its values (`bind`). On a hot path this saves building the
 * operation tree and compiling it on every request. `build` must place each placeholder as a
 * parameter (`sql\`${p.delta}::integer\``, `.where('sku', '=', p.sku)`), never in `sql.lit`, `sql.raw`
 * or anything that looks at the value, since it sees a placeholder and not the value.
 *
 * @example
 * const byId = new CompiledShape<{ id: string }>(['id'], (db, p) => db.selectFrom('merchants').selectAll().where('id', '=', p.id).compile());
 * const rows = (await db.executeQuery(byId.bind(db, { id }))).rows;
 */
export class CompiledShape<P extends Record<string, unknown>> {
  // One compiled form per dialect adapter class: PostgreSQL and PGlite share one, MySQL would have its own.
  readonly #compiled = new Map<unknown, Compiled<P>>();

  constructor(
    private readonly names: ReadonlyArray<keyof P & string>,
    // Any handle will do (database or transaction); the shape only compiles with it.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    private readonly build: (db: Kysely<any>, placeholders: Placeholders<P>) => CompiledQuery<unknown>,
  ) {}

  /** The compiled query with `values` in place of the placeholders, ready for `executeQuery`. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  bind<R>(db: Kysely<any>, values: P): CompiledQuery<R> {
    const compiled = this.#compile(db);
    const parameters = compiled.fixed.slice();
    for (const [index, name] of compiled.slots) parameters[index] = values[name];
    return { sql: compiled.sql, query: compiled.query, parameters, queryId: createQueryId() };
  }

  /** The SQL text, the same for every call (a prepared statement's name may stand for it). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  sql(db: Kysely<any>): string {
    return this.#compile(db).sql;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  #compile(db: Kysely<any>): Compiled<P> {
    const dialect = db.getExecutor().adapter.constructor;
    const known = this.#compiled.get(dialect);
    if (known !== undefined) return known;
    const placeholders = Object.fromEntries(this.names.map((name) => [name, new Slot(name)])) as unknown as Placeholders<P>;
    const query = this.build(db, placeholders);
    const slots: Array<readonly [number, keyof P]> = [];
    const fixed = query.parameters.map((value, index) => {
      if (!(value instanceof Slot)) return value;
      slots.push([index, value.name]);
      return undefined;
    });
    const missing = this.names.filter((name) => !slots.some(([, slot]) => slot === name));
    if (missing.length > 0) throw new Error(`compiled shape: ${missing.join(', ')} not placed as parameters`);
    const compiled: Compiled<P> = { sql: query.sql, query: query.query, fixed, slots };
    this.#compiled.set(dialect, compiled);
    return compiled;
  }
}
