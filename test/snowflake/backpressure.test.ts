/**
 * Warehouse back-pressure end to end: the Snowflake double answers 000610 (too many concurrent
 * requests) and then 000630 (statement timeout) for a while; the snowflakeSink reports them as
 * retryable back-pressure, the adaptive trigger widens its window and lowers its concurrency, then
 * narrows and raises them again once the warehouse is healthy, and every record lands once.
 *
 * Time is the pipeline's test clock. The clock does not move while a write is in the sink (its
 * DuckDB and file work is real I/O), so a write takes no test time and only the injected errors
 * signal congestion.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Sink } from '../../src/index.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { snowflakeSink } from '../../src/snowflake/index.js';
import { type TestClock, testClock } from '../../src/testing/clock.js';
import { type ScriptedRecord, scriptedSource } from '../../src/testing/scripted-source.js';
import type { WindowChange } from '../../src/triggers/adaptive.js';
import { triggers } from '../../src/triggers/index.js';
import { Event, ids, ledger, STAGE, TABLE, type World, world } from './sink-helpers.js';

let w: World | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

/** One record every `every` ms of test time in [from, to). */
function steady(from: number, to: number, every: number): ScriptedRecord<Event>[] {
  const out: ScriptedRecord<Event>[] = [];
  for (let at = from, i = 0; at < to; at += every, i++) out.push({ at, value: { id: `e${i}`, n: i } });
  return out;
}

/** A sink that counts the writes in progress (real I/O: the test clock must wait for them). */
function counting<T>(sink: Sink<T>): { sink: Sink<T>; busy: () => number } {
  let busy = 0;
  const wrapped = new Proxy(sink, {
    get(target, key, receiver) {
      if (key === 'write') {
        return async (...args: Parameters<Sink<T>['write']>) => {
          busy++;
          try {
            return await target.write(...args);
          } finally {
            busy--;
          }
        };
      }
      const value = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { sink: wrapped, busy: () => busy };
}

/**
 * Like `clock.runUntil`, but time moves only while no sink write is in progress: it settles
 * promises, waits (real time) for writes to finish, then fires the next timer.
 */
async function drive<T>(clock: TestClock, promise: Promise<T>, busy: () => number): Promise<T> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  const started = Date.now();
  while (!settled) {
    for (let i = 0; i < 3 && !settled; i++) await new Promise((r) => setImmediate(r));
    if (settled) break;
    if (Date.now() - started > 120_000) throw new Error('drive: nothing settled after 120 s of real time');
    if (busy() > 0 || !(await clock.next())) await new Promise((r) => setTimeout(r, 1));
  }
  return promise;
}

describe('snowflakeSink under warehouse back-pressure', () => {
  it('000610 then 000630: the window widens and concurrency drops, then both recover; every record once', async () => {
    w = await world();
    const double = w.double;
    const clock = testClock();
    const script = steady(0, 40_000, 10); // 100 records/s for 40 s
    // 8–11 s: every COPY is refused with 000610; 11–14 s: every COMMIT times out with 000630
    // (the transaction stays open with the COPY in it: the sink must roll it back before retrying).
    const f610 = double.inject({
      kind: 'COPY',
      error: '000610',
      when: () => clock.now() >= 8_000 && clock.now() < 11_000,
    });
    const f630 = double.inject({
      kind: 'COMMIT',
      error: '000630',
      when: () => clock.now() >= 11_000 && clock.now() < 14_000,
    });
    const { sink, busy } = counting(
      snowflakeSink({
        connection: double.connection(),
        table: TABLE,
        stage: { name: `${STAGE}/events`, storage: w.storage },
        schema: Event,
      }),
    );
    const p = pipeline({ name: 'backpressure', clock, retry: { initialDelay: 100, maxDelay: 400 } })
      .source(scriptedSource(clock, script))
      .trigger(triggers.adaptive({ minWindow: 200, maxWindow: 6_400, maxRecords: 5_000, maxConcurrency: 4 }))
      .sink(sink)
      .build();
    const changes: (WindowChange & { at: number })[] = [];
    p.on('window-change', (change) => changes.push({ ...change, at: clock.now() }));
    const report = await drive(clock, p.run(), busy);

    // Nothing lost, nothing twice: in the table, and each batch once in the ledger.
    expect(report.status).toBe('completed');
    expect(report.records.written).toBe(script.length);
    expect(report.records.undelivered).toBe(0);
    expect(await ids(double)).toEqual(script.map((r) => r.value.id).sort());
    const batches = await ledger(double);
    expect(new Set(batches).size).toBe(batches.length);
    // The double really answered both codes, several times, and the sink never forced a load.
    expect(f610.hits).toBeGreaterThanOrEqual(3);
    expect(f630.hits).toBeGreaterThanOrEqual(3);
    const failed = double.statements.filter((s) => s.injected).map((s) => s.error?.code);
    expect(new Set(failed)).toEqual(new Set(['000610', '000630']));
    expect(double.statementsOf('COPY').every((s) => !/FORCE/i.test(s.sqlText))).toBe(true);
    // After each 000630 on COMMIT the open transaction was rolled back before the next BEGIN.
    const order = double.statements.filter((s) => ['BEGIN', 'COMMIT', 'ROLLBACK'].includes(s.kind));
    for (const [i, s] of order.entries()) {
      if (s.kind === 'COMMIT' && s.error?.code === '000630') expect(order[i + 1]?.kind).toBe('ROLLBACK');
    }

    // The window widens while the warehouse pushes back, up to maxWindow…
    const faulty = (c: { at: number }) => c.at >= 8_000 && c.at < 14_000 + 6_400;
    const widening = changes.filter((c) => c.to > c.from);
    expect(widening.length).toBeGreaterThanOrEqual(4);
    expect(widening.every(faulty)).toBe(true);
    expect(widening.every((c) => c.reason === 'retry')).toBe(true);
    expect(Math.max(...changes.map((c) => c.to))).toBe(6_400);
    // …and concurrency drops there.
    expect(changes.some((c) => faulty(c) && c.concurrencyTo < c.concurrencyFrom)).toBe(true);
    // After: healthy writes narrow the window step by step and raise concurrency again.
    const after = changes.filter((c) => c.at >= 14_000 && c.reason === 'healthy');
    const narrowing = after.filter((c) => c.to < c.from);
    expect(narrowing.length).toBeGreaterThan(0);
    expect(narrowing.at(-1)!.to).toBeLessThan(6_400 / 4);
    const lowest = Math.min(...changes.filter(faulty).map((c) => c.concurrencyTo));
    expect(after.some((c) => c.concurrencyTo > lowest)).toBe(true);
  });
});
