/**
 * fast-check arbitraries for the Parquet property tests: a random column type (a zod schema and an
 * arbitrary of values that fit it), nested in structs and lists, maybe nullable.
 */
import { fc } from '@fast-check/vitest';
import { z } from 'zod';

/** A generated column: its zod schema and an arbitrary of fitting values. */
export interface GeneratedColumn {
  zod: z.ZodType;
  values: fc.Arbitrary<unknown>;
}

/** How {@link nestedColumn} builds around its leaves. */
export interface NestingOptions {
  /** Longest generated list. */
  maxItems: number;
  /** fast-check's `freq` for nulls in nullable columns (1 in `freq` values is null). @default 5 */
  nullFreq?: number;
}

/** A random column: one of `leaves`, or (up to `depth` levels) a struct or list of such columns. */
export function nestedColumn(
  leaves: readonly fc.Arbitrary<GeneratedColumn>[],
  depth: number,
  options: NestingOptions,
): fc.Arbitrary<GeneratedColumn> {
  const choices: fc.Arbitrary<GeneratedColumn>[] = [...leaves];
  if (depth > 0) {
    choices.push(
      fc.array(nestedColumn(leaves, depth - 1, options), { minLength: 1, maxLength: 3 }).map((fields) => ({
        zod: z.object(Object.fromEntries(fields.map((f, i) => [`f${i}`, f.zod]))),
        values: fc.record(Object.fromEntries(fields.map((f, i) => [`f${i}`, f.values]))),
      })),
      nestedColumn(leaves, depth - 1, options).map((items) => ({
        zod: z.array(items.zod),
        values: fc.array(items.values, { maxLength: options.maxItems }),
      })),
    );
  }
  return fc.tuple(fc.oneof(...choices), fc.boolean()).map(([generated, nullable]) =>
    nullable
      ? {
          zod: generated.zod.nullable(),
          values: fc.option(generated.values, { nil: null, freq: options.nullFreq ?? 5 }),
        }
      : generated,
  );
}
