import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { parquetLakeSink } from '../../src/lake/sink.js';
import { pipeline } from '../../src/pipeline/builder.js';
import type { Sink } from '../../src/sinks/types.js';
import { fromIterable } from '../../src/sources/iterable.js';
import { validate } from '../../src/transforms/index.js';

const Price = z.object({ sku: z.string(), price: z.number(), at: z.coerce.date() });
type Price = z.output<typeof Price>;
const Review = z.object({ sku: z.string(), stars: z.int() });

// Types only: nothing here runs a pipeline (the lake sink is exercised in sink.test.ts).
describe('parquetLakeSink types', () => {
  it('is a Sink of the zod schema output', () => {
    expectTypeOf(parquetLakeSink({ dir: '/tmp/lake', table: 'prices', schema: Price })).toEqualTypeOf<
      Sink<Price>
    >();
  });

  it('keeps an explicit record type for explicit columns', () => {
    const sink = parquetLakeSink<{ id: number }>({
      dir: '/tmp/lake',
      table: 't',
      schema: [{ name: 'id', type: 'int64' }],
    });
    expectTypeOf(sink).toEqualTypeOf<Sink<{ id: number }>>();
  });

  it('refuses a sink whose schema differs from the one validated', () => {
    const build = () =>
      pipeline({ name: 'typed' })
        .source(fromIterable<unknown>([]))
        .transform(validate(Price))
        // @ts-expect-error: the lake expects Review records, the pipeline delivers Price records
        .sink(parquetLakeSink({ dir: '/tmp/lake', table: 'reviews', schema: Review }));
    expectTypeOf(build).toBeFunction();
  });

  it('accepts the sink of the schema validated', () => {
    const build = () =>
      pipeline({ name: 'typed' })
        .source(fromIterable<unknown>([]))
        .transform(validate(Price))
        .sink(parquetLakeSink({ dir: '/tmp/lake', table: 'prices', schema: Price }));
    expectTypeOf(build).toBeFunction();
  });
});

describe('postgresSink types', () => {
  it('is a Sink of the zod schema output, and refuses another schema in a typed pipeline', async () => {
    const { postgresSink } = await import('../../src/postgres/index.js');
    const pool = {} as Parameters<typeof postgresSink>[0]['pool'];
    const make = () => postgresSink({ pool, table: 'prices', schema: Price });
    expectTypeOf(make).returns.toExtend<Sink<Price>>();
    const build = () =>
      pipeline({ name: 'typed' })
        .source(fromIterable<unknown>([]))
        .transform(validate(Price))
        // @ts-expect-error: the table expects Review records, the pipeline delivers Price records
        .sink(postgresSink({ pool, table: 'reviews', schema: Review }));
    expectTypeOf(build).toBeFunction();
  });
});
