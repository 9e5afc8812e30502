import fc from 'fast-check';

/**
 * Shared generators of hostile input. `FUZZ_SCALE` multiplies every suite's run count (default 1):
 * `FUZZ_SCALE=10 npx vitest run test/fuzz` for a long soak, the default keeps CI within seconds.
 */
export function runs(base: number): number {
  const scale = Number(process.env.FUZZ_SCALE ?? '1');
  return Math.max(1, Math.round(base * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
}

/** Strings a careless client or an attacker sends: control characters, lone surrogates, RTL marks, emoji, NUL. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('\u0000', '\u0007', '\n', '\r', '\t', '\u001b', '\u007f', '\u2028', '\u202e', '\ufeff', '\ud800', '\udfff', ',', '/', '%', '?', '#', ' ', '"', '\\', 'A', '1', '-', ':', '.') , maxLength: 20 }),
  fc.constantFrom('', ' ', '.', '..', '../../etc/passwd', 'A'.repeat(129), 'A'.repeat(5000), '%00', 'SKU\u0000X', '😀', 'İ', 'ß', 'null', '__proto__', 'constructor'),
);

/** Numbers past every limit: beyond 32-bit columns, beyond safe integers, fractions, negative zero, exponents. */
export const hugeNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(2 ** 31, 2 ** 53, 2 ** 53 + 2, 1e21, 1e308, -1e308, 0.5, -0.000001, 1.0000001, Number.MAX_VALUE, -(2 ** 63)),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Number.isInteger(n) || Math.abs(n) > 1_000_000_000),
);

/** A value of the wrong JSON type for a number field. */
export const wrongType: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 10 }),
  fc.constantFrom('5', '1e3', 'NaN', 'Infinity', '', true, false, null, [], {}, [1], { value: 1 }),
);

/** Any JSON, with hostile strings as keys and values, a few levels deep. */
export const fuzzJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      hostileString,
      hugeNumber,
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(fc.oneof(hostileString, fc.constantFrom('sku', 'onHand', 'delta', 'items', 'op', 'skus', 'since', 'quantity')), tie('value'), {
        maxKeys: 4,
      }),
    ),
  })).value,
  fc.record(
    {
      sku: hostileString,
      onHand: fc.oneof(fc.integer(), hugeNumber, wrongType),
      delta: fc.oneof(fc.integer(), hugeNumber, wrongType),
      items: fc.array(fc.record({ sku: hostileString, delta: fc.oneof(fc.integer({ min: -3, max: 3 }), wrongType) }), { maxLength: 5 }),
      quantity: fc.oneof(fc.integer({ min: -2, max: 5 }), hugeNumber),
      name: hostileString,
      display: fc.constantFrom('exact', 'threshold', 'status', 'secret', ''),
    },
    { requiredKeys: [] },
  ),
);

/** Deep nesting as raw JSON text (JSON.stringify of such values would itself recurse). */
export const nested: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 50, max: 20_000 }), fc.constantFrom('[', '{"a":'), fc.boolean())
  .map(([depth, open, closed]) => {
    const close = open === '[' ? ']' : '}';
    return `${open.repeat(depth)}1${closed ? close.repeat(depth) : ''}`;
  });
