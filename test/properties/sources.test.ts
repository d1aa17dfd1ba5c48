import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, it } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import {
  type DeadLetter,
  fromJsonLines,
  memorySink,
  pipeline,
  pushSource,
  recordOffsets,
  triggers,
} from '../../src/index.js';
import { flakySink, testClock } from '../../src/testing/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-prop-sources-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Text that is not JSON, has no line break, and is not blank. */
const notJson = fc
  .string({ minLength: 1, maxLength: 40, unit: 'binary' })
  .filter((t) => !/[\n\r]/.test(t) && t.trim().length > 0)
  .filter((t) => {
    try {
      JSON.parse(t);
      return false;
    } catch {
      return true;
    }
  });

const line = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .jsonValue({ maxDepth: 3 })
      .map((value) => ({ kind: 'json' as const, text: JSON.stringify(value) })),
  },
  { weight: 2, arbitrary: notJson.map((text) => ({ kind: 'bad' as const, text })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('', '   ', '\t').map((text) => ({ kind: 'blank' as const, text })),
  },
);

const file = fc.record({
  lines: fc.array(line, { maxLength: 60, size: 'large' }),
  crlf: fc.boolean(),
  finalNewline: fc.boolean(),
  readBytes: fc.integer({ min: 1, max: 96 }),
});

let fileNumber = 0;

describe('fromJsonLines laws', () => {
  it.prop([file, fc.nat()], { numRuns: 120 })(
    'every line is a record at its byte offset or a malformed dead letter (an unterminated last line only when complete); resuming after any committed record reads exactly the rest',
    async ({ lines, crlf, finalNewline, readBytes }, pick) => {
      const eol = crlf ? '\r\n' : '\n';
      const text = lines.map((l) => l.text).join(eol) + (finalNewline && lines.length > 0 ? eol : '');
      const path = join(dir, `f${fileNumber++}.jsonl`);
      await writeFile(path, text);
      // Where each line starts, in bytes.
      const starts: number[] = [];
      let at = 0;
      for (const l of lines) {
        starts.push(at);
        at += Buffer.byteLength(l.text) + Buffer.byteLength(eol);
      }
      // Without `complete`, an unterminated last line is left unread (its writer may be mid-line).
      const complete = pick % 2 === 0;
      const held = !complete && !finalNewline && lines.length > 0;
      const expected = lines
        .map((l, k) => ({ ...l, offset: starts[k]! }))
        .filter((l, k) => l.kind !== 'blank' && !(held && k === lines.length - 1));

      const run = async (options: { after?: number }) => {
        const sink = memorySink<unknown>();
        const dead = memorySink<DeadLetter>();
        const report = await pipeline({ name: 'jl' })
          .source(fromJsonLines(path, { ...options, readBytes, complete }))
          .trigger(triggers.volume({ records: 7 }))
          .sink(sink)
          .deadLetter(dead)
          .build()
          .run();
        const written = [...sink.batches]
          .sort((a, b) => a.firstOffset - b.firstOffset)
          .flatMap((b) => recordOffsets(b).map((offset, i) => ({ offset, value: b.records[i] })));
        return { written, dead: dead.records, report };
      };

      const all = await run({});
      const json = expected.filter((l) => l.kind === 'json');
      const bad = expected.filter((l) => l.kind === 'bad');
      expect(all.written).toEqual(json.map((l) => ({ offset: l.offset, value: JSON.parse(l.text) })));
      expect(all.dead.map((d) => [d.reason, d.cursor.offset, d.value])).toEqual(
        bad.map((l) => ['malformed', l.offset, l.text]),
      );
      expect(all.report.records.in).toBe(expected.length);
      if (expected.length > 0) expect(all.report.committed).toEqual({ [path]: expected.at(-1)!.offset });

      if (expected.length > 0) {
        const k = pick % expected.length;
        const rest = await run({ after: expected[k]!.offset });
        const later = expected.slice(k + 1);
        expect(
          [...rest.written.map((w) => w.offset), ...rest.dead.map((d) => d.cursor.offset)].sort(
            (a, b) => a - b,
          ),
        ).toEqual(later.map((l) => l.offset));
      }
    },
  );
});

describe('pushSource laws', () => {
  const op = fc.record({
    partition: fc.constantFrom('a', 'b'),
    many: fc.integer({ min: 1, max: 5 }),
    wait: fc.boolean(),
    pause: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 300 })),
  });

  it.prop(
    [
      fc.array(op, { maxLength: 60, size: 'large' }),
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 200, max: 3_000 }),
    ],
    {
      numRuns: 100,
    },
  )(
    'every accepted push is delivered exactly once, in push order per partition, under back-pressure',
    async (ops, highWaterMark, budget) => {
      const clock = testClock();
      const source = pushSource<{ p: string; n: number }>({ highWaterMark });
      const inner = memorySink<{ p: string; n: number }>();
      const sink = flakySink({ clock, inner, schedule: ({ call }) => ({ delay: (call * 37) % 200 }) });
      const p = pipeline({ name: 'push', clock, maxBufferBytes: budget, concurrency: 2 })
        .source(source)
        .trigger(triggers.any(triggers.time(150), triggers.volume({ records: 6 })))
        .sink(sink)
        .build();
      const pushed = new Map<string, number[]>();
      let n = 0;
      const producer = async () => {
        const pending: Promise<void>[] = [];
        for (const o of ops) {
          const records = Array.from({ length: o.many }, () => ({ p: o.partition, n: n++ }));
          for (const r of records) pushed.set(r.p, [...(pushed.get(r.p) ?? []), r.n]);
          const accepted =
            o.many === 1
              ? source.push(records[0]!, { partition: o.partition })
              : source.pushMany(records, { partition: o.partition });
          if (o.wait) await accepted;
          else pending.push(accepted);
          if (o.pause > 0) await new Promise<void>((resolve) => clock.setTimeout(resolve, o.pause));
        }
        await Promise.all(pending);
        source.end();
      };
      const [, report] = await clock.runUntil(Promise.all([producer(), p.run()]));
      const delivered = new Map<string, number[]>();
      for (const b of [...inner.batches].sort((x, y) => x.firstOffset - y.firstOffset)) {
        delivered.set(b.partition, [...(delivered.get(b.partition) ?? []), ...b.records.map((r) => r.n)]);
      }
      expect(delivered).toEqual(pushed);
      expect(report.records.written).toBe(n);
      expect(report.undelivered).toEqual([]);
    },
  );
});
