/**
 * The generic Thrift compact-protocol codec (src/parquet/thrift.ts): every footer our encoder writes
 * decodes and encodes back byte for byte (random schemas, codecs, row-group sizes); random trees
 * round-trip; malformed bytes fail with ThriftError, never with anything else.
 */
import { fc, it } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { z } from 'zod';
import { encodeParquet, type ParquetCompression } from '../../src/parquet/encode.js';
import { parquetSchema } from '../../src/parquet/schema.js';
import {
  decodeStruct,
  encodeList,
  encodeStruct,
  getField,
  readInteger,
  removeField,
  StructWriter,
  scanList,
  scanStruct,
  setField,
  ThriftError,
  type ThriftField,
  type ThriftStruct,
  type ThriftValue,
} from '../../src/parquet/thrift.js';
import { type GeneratedColumn, nestedColumn } from './arbitraries.js';

/** Leaf columns of every type the encoder supports. */
const leaves: fc.Arbitrary<GeneratedColumn>[] = [
  fc.constant({
    zod: z.string() as z.ZodType,
    values: fc.string({ maxLength: 12 }) as fc.Arbitrary<unknown>,
  }),
  fc.constant({ zod: z.number(), values: fc.double() }),
  fc.constant({ zod: z.int32(), values: fc.integer() }),
  fc.constant({ zod: z.int(), values: fc.maxSafeInteger() }),
  fc.constant({ zod: z.boolean(), values: fc.boolean() }),
  fc.constant({ zod: z.date(), values: fc.date({ noInvalidDate: true }) }),
  fc.constant({ zod: z.enum(['a', 'b']), values: fc.constantFrom('a', 'b') }),
];

/** A zod column of any of those types, nested up to `depth`, maybe nullable. */
const column = (depth: number) => nestedColumn(leaves, depth, { maxItems: 3 });

const file = fc
  .tuple(
    fc.array(column(2), { minLength: 1, maxLength: 6 }),
    fc.constantFrom<ParquetCompression>('zstd', 'snappy', 'gzip', 'lz4', 'brotli', 'none'),
    fc.integer({ min: 1, max: 20 }),
  )
  .chain(([columns, compression, rowGroupSize]) =>
    fc.tuple(
      fc.constant(z.object(Object.fromEntries(columns.map((c, i) => [`c${i}`, c.zod])))),
      fc.array(fc.record(Object.fromEntries(columns.map((c, i) => [`c${i}`, c.values]))), { maxLength: 40 }),
      fc.constant(compression),
      fc.constant(rowGroupSize),
    ),
  );

/** The FileMetaData bytes of a Parquet file: before the 4-byte length and the closing PAR1. */
function footerBytes(bytes: Uint8Array): Uint8Array {
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(
    bytes.length - 8,
    true,
  );
  return bytes.subarray(bytes.length - 8 - length, bytes.length - 8);
}

// Element type codes: bool lists may say 1 or 2; the other types have one code each.
const ELEMENTS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12] as const;

/** A random value of any compact-protocol type (canonical: no long forms where short ones fit). */
const tree = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.boolean().map((value): ThriftValue => ({ kind: 'bool', value })),
    fc.integer({ min: -128, max: 127 }).map((value): ThriftValue => ({ kind: 'i8', value })),
    fc.integer({ min: -32768, max: 32767 }).map((value): ThriftValue => ({ kind: 'i16', value })),
    fc.integer().map((value): ThriftValue => ({ kind: 'i32', value })),
    fc
      .bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
      .map((value): ThriftValue => ({ kind: 'i64', value })),
    fc.double({ noNaN: true }).map((value): ThriftValue => ({ kind: 'double', value })),
    fc.uint8Array({ maxLength: 40 }).map((value): ThriftValue => ({ kind: 'binary', value })),
    tie('list'),
    tie('map'),
    tie('struct'),
  ),
  list: fc
    .tuple(
      fc.constantFrom('list' as const, 'set' as const),
      fc.constantFrom(...ELEMENTS),
      fc.nat({ max: 20 }),
    )
    .chain(([kind, element, count]) =>
      fc
        .array(elementOf(element, tie), { minLength: count, maxLength: count })
        .map((items): ThriftValue => ({ kind, element, items })),
    ),
  map: fc
    .tuple(fc.constantFrom(...ELEMENTS), fc.constantFrom(...ELEMENTS), fc.nat({ max: 4 }))
    .chain(([key, value, count]) =>
      fc
        .array(fc.tuple(elementOf(key, tie), elementOf(value, tie)), { minLength: count, maxLength: count })
        .map(
          (entries): ThriftValue =>
            count === 0
              ? { kind: 'map', key: 0, value: 0, entries: [] }
              : { kind: 'map', key, value, entries },
        ),
    ),
  struct: fc
    .array(fc.tuple(fc.integer({ min: -200, max: 200 }), tie('value') as fc.Arbitrary<ThriftValue>), {
      maxLength: 6,
    })
    .map(
      (fields): ThriftValue => ({
        kind: 'struct',
        fields: fields.map(([id, value]): ThriftField => ({ id, value })),
      }),
    ),
}));

function elementOf(code: number, tie: (key: string) => fc.Arbitrary<unknown>): fc.Arbitrary<ThriftValue> {
  switch (code) {
    case 1:
    case 2:
      return fc.boolean().map((value) => ({ kind: 'bool', value }));
    case 3:
      return fc.integer({ min: -128, max: 127 }).map((value) => ({ kind: 'i8', value }));
    case 4:
      return fc.integer({ min: -32768, max: 32767 }).map((value) => ({ kind: 'i16', value }));
    case 5:
      return fc.integer().map((value) => ({ kind: 'i32', value }));
    case 6:
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((value) => ({ kind: 'i64', value }));
    case 7:
      return fc.double({ noNaN: true }).map((value) => ({ kind: 'double', value }));
    case 8:
      return fc.uint8Array({ maxLength: 8 }).map((value) => ({ kind: 'binary', value }));
    case 9:
      return fc
        .array(
          fc.integer().map((value): ThriftValue => ({ kind: 'i32', value })),
          { maxLength: 3 },
        )
        .map((items) => ({ kind: 'list', element: 5, items }));
    default:
      return tie('struct') as fc.Arbitrary<ThriftValue>;
  }
}

describe('Thrift compact codec', () => {
  it.prop([file], { numRuns: 60 })(
    'every footer encodeParquet writes decodes and encodes back byte for byte',
    async ([schema, records, compression, rowGroupSize]) => {
      const bytes = await encodeParquet(records, parquetSchema(schema), { compression, rowGroupSize });
      const footer = footerBytes(bytes);
      const { struct, end } = decodeStruct(footer);
      expect(end).toBe(footer.length);
      expect(Buffer.from(encodeStruct(struct)).equals(Buffer.from(footer))).toBe(true);
      // The tree is the footer, not just bytes: FileMetaData.num_rows (3) and row_groups (4).
      expect(getField(struct, 3)).toEqual({ kind: 'i64', value: BigInt(records.length) });
      const groups = getField(struct, 4);
      expect(groups?.kind).toBe('list');
      expect((groups as { items: unknown[] }).items).toHaveLength(Math.ceil(records.length / rowGroupSize));
    },
  );

  it.prop([tree.struct], { numRuns: 300 })(
    'random structs round-trip: decode(encode(t)) = t, bytes stable',
    (t) => {
      const struct = t as ThriftStruct;
      const bytes = encodeStruct(struct);
      const { struct: back, end } = decodeStruct(bytes);
      expect(end).toBe(bytes.length);
      expect(back).toEqual(struct);
      expect(Buffer.from(encodeStruct(back)).equals(Buffer.from(bytes))).toBe(true);
    },
  );

  it.prop([tree.struct, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })], { numRuns: 300 })(
    'truncated or damaged bytes fail with ThriftError (never another error, never a hang)',
    (t, cut, noise) => {
      const bytes = encodeStruct(t as ThriftStruct);
      const truncated = bytes.subarray(0, cut % bytes.length);
      expect(() => decodeStruct(truncated)).toThrow(ThriftError);
      const damaged = new Uint8Array([...bytes.subarray(0, cut % bytes.length), ...noise]);
      try {
        decodeStruct(damaged);
      } catch (error) {
        expect(error).toBeInstanceOf(ThriftError);
      }
    },
  );

  it('keeps long forms a writer chose where a short one fits (field ids, list sizes)', () => {
    // Field 1 (i32 = 5) in the long form: type byte 0x05, zigzag id 0x02, zigzag value 0x0a; then a
    // list<i32> of 2 items with the size in the long form (0xf5, varint 2); then stop.
    const bytes = new Uint8Array([0x05, 0x02, 0x0a, 0x19, 0xf5, 0x02, 0x02, 0x04, 0x00]);
    const { struct } = decodeStruct(bytes);
    expect(struct.fields[0]).toEqual({ id: 1, value: { kind: 'i32', value: 5 }, longId: true });
    expect(struct.fields[1]!.value).toMatchObject({
      kind: 'list',
      longSize: true,
      items: [{ value: 1 }, { value: 2 }],
    });
    expect([...encodeStruct(struct)]).toEqual([...bytes]);
  });

  it('patches fields in place or in id order, and removes them', () => {
    const struct: ThriftStruct = {
      kind: 'struct',
      fields: [
        { id: 1, value: { kind: 'i32', value: 1 } },
        { id: 9, value: { kind: 'i64', value: 100n } },
      ],
    };
    setField(struct, 9, { kind: 'i64', value: 2n ** 40n });
    setField(struct, 4, { kind: 'bool', value: true });
    setField(struct, 30, { kind: 'binary', value: new Uint8Array([1]) });
    expect(struct.fields.map((f) => f.id)).toEqual([1, 4, 9, 30]);
    removeField(struct, 4);
    const back = decodeStruct(encodeStruct(struct)).struct;
    expect(back.fields.map((f) => f.id)).toEqual([1, 9, 30]);
    expect(getField(back, 9)).toEqual({ kind: 'i64', value: 2n ** 40n });
  });
});

describe('Thrift compact walking and rewriting', () => {
  it.prop([tree.struct], { numRuns: 300 })(
    'scanStruct finds the fields decodeStruct does, and StructWriter copying every field gives the same bytes',
    (t) => {
      const bytes = encodeStruct(t as ThriftStruct);
      const seen: { id: number; code: number; start: number; end: number }[] = [];
      const end = scanStruct(bytes, 0, (id, code, start, stop) => seen.push({ id, code, start, end: stop }));
      expect(end).toBe(bytes.length);
      expect(seen.map((f) => f.id)).toEqual((t as ThriftStruct).fields.map((f) => f.id));
      const copy = new StructWriter();
      for (const f of seen) copy.copy(f.id, f.code, bytes, f.start, f.end);
      expect(Buffer.from(copy.finish()).equals(Buffer.from(bytes))).toBe(true);
    },
  );

  it.prop([fc.array(fc.integer(), { maxLength: 40 })])(
    'scanList walks every item; encodeList writes them back',
    (ints) => {
      const struct: ThriftStruct = {
        kind: 'struct',
        fields: [
          {
            id: 1,
            value: { kind: 'list', element: 5, items: ints.map((value) => ({ kind: 'i32', value })) },
          },
        ],
      };
      const bytes = encodeStruct(struct);
      const items: Uint8Array[] = [];
      const read: number[] = [];
      scanList(bytes, 1, (code, start, stop) => {
        expect(code).toBe(5);
        items.push(bytes.subarray(start, stop));
        read.push(readInteger(bytes, start));
      });
      expect(read).toEqual(ints);
      const rebuilt = new StructWriter().set(1, encodeList(5, items)).finish();
      expect(Buffer.from(rebuilt).equals(Buffer.from(bytes))).toBe(true);
    },
  );
});
