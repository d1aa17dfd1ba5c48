import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { pipeline } from '../../src/pipeline/builder.js';
import { memorySink } from '../../src/sinks/memory.js';
import { fromIterable } from '../../src/sources/iterable.js';
import {
  dedupe,
  type RedactPath,
  redact,
  requireConsent,
  type Transform,
  validate,
} from '../../src/transforms/index.js';

const Price = z.object({
  sku: z.string(),
  price: z.number(),
  seller: z.object({ email: z.string(), consent: z.boolean() }),
  at: z.coerce.date(),
});
type Price = z.output<typeof Price>;

describe('transform types', () => {
  it('validate(schema) outputs the schema output type', () => {
    expectTypeOf(validate(Price)).toEqualTypeOf<Transform<unknown, Price>>();
    expectTypeOf(validate(z.string().transform((s) => s.length))).toEqualTypeOf<Transform<unknown, number>>();
  });

  it('validate({ versions }) outputs the union of the versions', () => {
    const V1 = z.object({ v: z.literal(1), a: z.string() });
    const V2 = z.object({ v: z.literal(2), b: z.number() });
    const t = validate({ versions: { '1': V1, '2': V2 }, pick: (r) => r.v });
    expectTypeOf(t).toEqualTypeOf<Transform<unknown, z.output<typeof V1> | z.output<typeof V2>>>();
  });

  it('chains infer through validate, dedupe, redact and requireConsent', () => {
    const sink = memorySink<Price>();
    const built = pipeline({ name: 'types' })
      .source(fromIterable<unknown>([]))
      .transform(
        validate(Price),
        requireConsent((r) => r.seller.consent),
        dedupe((r) => r.sku, { scope: { ttl: '1h', maxKeys: 10 } }),
        redact({ 'seller.email': 'hash' }, { secret: 'a secret of 16+ bytes' }),
      )
      .sink(sink);
    expectTypeOf(built).toHaveProperty('build');
    // The sink must accept what the chain outputs: a mismatch would not compile.
    const validated = pipeline({ name: 'types' })
      .source(fromIterable<unknown>([]))
      .transform(validate(Price));
    // @ts-expect-error a sink of strings does not take Price records
    validated.sink(memorySink<string>());
  });

  it('the key and predicate see the typed record', () => {
    const t = pipeline({ name: 'types' })
      .source(fromIterable<unknown>([]))
      .transform(
        validate(Price),
        dedupe((r) => {
          expectTypeOf(r).toEqualTypeOf<Price>();
          return r.sku;
        }),
      );
    expectTypeOf(t).toHaveProperty('sink');
  });
});

describe('redact<T>: paths checked at compile time', () => {
  interface Order {
    note: string;
    user: { email: string; phones: string[] };
    contacts: { email: string | null }[] | null;
    matrix: number[][];
  }

  it('accepts the paths of T, arrays included', () => {
    redact<Order>(
      {
        note: { detect: ['email'] },
        'user.email': 'hash',
        'user.phones[]': { mask: { keepLast: 2 } },
        'contacts[].email': 'drop',
        'matrix[][]': { replace: 0 },
      },
      { secret: 'a-secret-of-at-least-16-bytes' },
    );
    expectTypeOf<'user.email'>().toMatchTypeOf<RedactPath<Order>>();
    expectTypeOf<'contacts[].email'>().toMatchTypeOf<RedactPath<Order>>();
  });

  it('refuses a typo or a path into a scalar', () => {
    // @ts-expect-error 'notes' is not a field of Order (the issue's silent miss)
    redact<Order>({ notes: { detect: ['email'] } });
    // @ts-expect-error 'user.mail' is not a path of Order
    redact<Order>({ 'user.mail': 'drop' });
    // @ts-expect-error a string has no fields
    redact<Order>({ 'note.length': 'drop' });
    // @ts-expect-error contacts is an array: its elements are reached with []
    redact<Order>({ 'contacts.email': 'drop' });
  });

  it('any string path when the record type is unknown', () => {
    expectTypeOf<RedactPath<unknown>>().toEqualTypeOf<string>();
    redact({ 'anything.at[].all': 'drop' });
  });
});
