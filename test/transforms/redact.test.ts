import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { redact } from '../../src/transforms/redact.js';
import { expectInvalid } from '../support.js';
import { input, out } from './helpers.js';

const secret = 'a-test-secret-of-32-bytes-length';
const hmac = (text: string, encoding: 'hex' | 'base64url' = 'hex') =>
  createHmac('sha256', secret).update(text).digest(encoding);
const one = async (rules: Parameters<typeof redact>[0], record: unknown, options = { secret }) => {
  const result = await out(redact(rules, options).apply(input([record])));
  expect(result.rejected).toBeUndefined();
  return result.records[0];
};

describe('redact: actions', () => {
  it("'drop' removes the field", async () => {
    expect(await one({ email: 'drop' }, { sku: 'a', email: 'x@y.io' })).toEqual({ sku: 'a' });
  });

  it("'hash' is HMAC-SHA-256 under the secret, hex by default, base64url on request", async () => {
    expect(await one({ email: 'hash' }, { email: 'x@y.io' })).toEqual({ email: hmac('x@y.io') });
    expect(
      await one({ email: 'hash' }, { email: 'x@y.io' }, { secret, encoding: 'base64url' } as never),
    ).toEqual({
      email: hmac('x@y.io', 'base64url'),
    });
    const key = Buffer.from(secret);
    const bytes = await out(redact({ n: 'hash' }, { secret: key }).apply(input([{ n: 42 }])));
    expect(bytes.records).toEqual([{ n: hmac('42') }]);
  });

  it("'hash' and mask take numbers, booleans and bigints as text and leave null and undefined", async () => {
    const record = { a: 1.5, b: true, c: 10n, d: null, e: undefined };
    expect(await one({ a: 'hash', b: 'hash', c: 'hash', d: 'hash', e: 'hash' }, record)).toEqual({
      a: hmac('1.5'),
      b: hmac('true'),
      c: hmac('10'),
      d: null,
      e: undefined,
    });
    expect(await one({ a: { mask: { keepLast: 1 } } }, { a: 12345 })).toEqual({ a: '****5' });
  });

  it('mask keeps the last N characters, masks short values entirely, never splits an emoji', async () => {
    const mask = (keepLast: number, value: string, char?: string) =>
      one({ v: { mask: char === undefined ? { keepLast } : { keepLast, char } } }, { v: value });
    expect(await mask(4, '4111111111111111')).toEqual({ v: '************1111' });
    expect(await mask(4, 'abcd')).toEqual({ v: '****' });
    expect(await mask(0, 'abc', '#')).toEqual({ v: '###' });
    expect(await mask(2, 'a😀b😀')).toEqual({ v: '**b😀' });
    expect(await mask(1, '')).toEqual({ v: '' });
  });

  it('{ replace } sets the value, whatever was there', async () => {
    expect(await one({ a: { replace: '[gone]' }, b: { replace: null } }, { a: { deep: 1 }, b: 'x' })).toEqual(
      {
        a: '[gone]',
        b: null,
      },
    );
  });

  it('an object or array under hash, mask or detect rejects the record as unredactable', async () => {
    const t = redact({ 'user.email': 'hash' }, { secret });
    const result = await out(
      t.apply(input([{ user: { email: { nested: 'x@y.io' } } }, { user: { email: 'ok@y.io' } }])),
    );
    expect(result.records).toEqual([{ user: { email: hmac('ok@y.io') } }]);
    expect(result.from).toEqual([1]);
    expect(result.rejected).toEqual([
      {
        index: 0,
        reason: 'unredactable',
        details: { path: 'user.email', error: 'hash needs a string, number or boolean; got an object' },
      },
    ]);
  });
});

describe('redact: paths', () => {
  it('nested paths and [] for array elements, at any depth', async () => {
    const record = {
      user: { email: 'a@b.io', name: 'Ann' },
      contacts: [{ email: 'c@d.io' }, { phone: '1' }, null, 'x'],
      tags: ['t1', 't2'],
      matrix: [['m1'], ['m2', 'm3']],
    };
    expect(
      await one(
        {
          'user.email': 'hash',
          'contacts[].email': 'drop',
          'tags[]': 'hash',
          'matrix[][]': { replace: '?' },
        },
        record,
      ),
    ).toEqual({
      user: { email: hmac('a@b.io'), name: 'Ann' },
      contacts: [{}, { phone: '1' }, null, 'x'],
      tags: [hmac('t1'), hmac('t2')],
      matrix: [['?'], ['?', '?']],
    });
  });

  it('leaves records whose shape does not match alone, passing the same object on', async () => {
    const t = redact({ 'user.email': 'hash', 'list[].x': 'drop' }, { secret });
    const records = [
      {},
      { user: null },
      { user: 'text' },
      { user: ['a'] },
      { list: { x: 1 } },
      42,
      null,
      'str',
    ];
    const result = await out(t.apply(input(records)));
    expect(result).toEqual({ records });
    for (let i = 0; i < records.length; i++) expect(result.records[i]).toBe(records[i]);
  });

  it('never changes the input record; untouched branches are shared, touched ones copied', async () => {
    const record = {
      user: { email: 'a@b.io', prefs: { lang: 'en' } },
      other: { k: 1 },
      list: [{ e: 'x' }, { f: 1 }],
    };
    const before = structuredClone(record);
    const t = redact({ 'user.email': 'hash', 'list[].e': 'drop' }, { secret });
    const [after] = (await out(t.apply(input([record])))).records as (typeof record)[];
    expect(record).toEqual(before);
    expect(after).not.toBe(record);
    expect(after!.user).not.toBe(record.user);
    expect(after!.user.prefs).toBe(record.user.prefs);
    expect(after!.other).toBe(record.other);
    expect(after!.list[1]).toBe(record.list[1]);
  });

  it('__proto__ and constructor keys are plain fields: no prototype is read or polluted', async () => {
    const record = JSON.parse(
      '{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}, "a": 1}',
    );
    const t = redact(
      { '__proto__.polluted': 'hash', 'constructor.prototype': { replace: 'x' }, 'toString.x': 'drop' },
      { secret },
    );
    const [after] = (await out(t.apply(input([record])))).records as Record<string, unknown>[];
    expect(Object.hasOwn(after!, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(after)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(after, '__proto__')?.value).toEqual({ polluted: hmac('yes') });
    expect(after!.constructor).toEqual({ prototype: 'x' });
    expect({} as Record<string, unknown>).not.toHaveProperty('polluted');
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    // A record without those keys is not touched through Object.prototype's members.
    expect((await out(t.apply(input([{ a: 1 }])))).records[0]).toEqual({ a: 1 });
  });
});

describe('redact: detectors', () => {
  const detect = (text: unknown, rule: object = { detect: ['email', 'phone'] }) =>
    one({ note: rule as never }, { note: text }).then((r) => (r as { note: unknown }).note);

  it('finds e-mail addresses and phone numbers in free text and replaces just those', async () => {
    const text =
      'Call +49 151 2345 6789 or (030) 123-4567, mail jane.doe+shop@mail.example.co.uk. Price 19.99 EUR';
    expect(await detect(text)).toBe('Call [redacted] or [redacted], mail [redacted]. Price 19.99 EUR');
  });

  it('with: hash, mask or replace', async () => {
    const text = 'seller: bob@shop.io';
    expect(await detect(text, { detect: ['email'], with: 'hash' })).toBe(`seller: ${hmac('bob@shop.io')}`);
    expect(await detect(text, { detect: ['email'], with: { mask: { keepLast: 3 } } })).toBe(
      'seller: ********.io',
    );
    expect(await detect(text, { detect: ['email'], with: { replace: '<email>' } })).toBe('seller: <email>');
  });

  it.each([
    ['a date', 'shipped 2025-01-31, ok'],
    ['a price', 'now 1299.99 instead of 1499.00'],
    ['a SKU glued to letters', 'SKU ABC12345678 and 12345678XYZ'],
    ['too few digits', 'room 123-456'],
    ['an @ without a domain', 'ping @bob or a@b or x@y.z or @example.com'],
  ])('leaves %s alone', async (_, text) => {
    expect(await detect(text)).toBe(text);
  });

  it('only the detectors asked for', async () => {
    expect(await detect('a@b.io 555-123-4567', { detect: ['phone'] })).toBe('a@b.io [redacted]');
    expect(await detect('a@b.io 555-123-4567', { detect: ['email'] })).toBe('[redacted] 555-123-4567');
  });

  it('overlapping matches are redacted as one, leaving no piece of either', async () => {
    expect(await detect('call 555 1234 5678.x@a.com now')).toBe('call [redacted] now');
  });

  it('numbers are searched as their text; other scalars pass', async () => {
    expect(await detect(4915123456789)).toBe('[redacted]');
    expect(await detect(42)).toBe(42);
    expect(await detect(null)).toBe(null);
  });

  it('is linear on long text: 10 MB without an @ or a phone takes no time to speak of', async () => {
    const big = `${'a'.repeat(5_000_000)}${'1a'.repeat(2_500_000)}`;
    expect(await detect(big)).toBe(big);
    const many = 'x@y.io '.repeat(100_000);
    expect(await detect(many)).toBe('[redacted] '.repeat(100_000));
  });
});

describe('redact: options', () => {
  it('checks rules and options eagerly, with the rule in the message', () => {
    expectInvalid(() => redact(null as never), 'redact(rules)', 'rules must be an object');
    expectInvalid(() => redact({}), 'at least one field path');
    expectInvalid(() => redact({ email: 'hash' }), "rule 'email' hashes", 'options.secret is required');
    expectInvalid(() => redact({ n: { detect: ['email'], with: 'hash' } }), "rule 'n' hashes");
    expectInvalid(() => redact({ email: 'hash' }, { secret: 'short' }), 'at least 16 bytes', 'got 5');
    expectInvalid(() => redact({ email: 'hash' }, { secret: 42 as never }), 'string or a Uint8Array');
    expectInvalid(() => redact({ email: 'drop' }, { encoding: 'hex2' as never }), "'hex' or 'base64url'");
    expectInvalid(() => redact({ email: 'drop' }, { salt: 'x' } as never), "unknown option 'salt'");
    expectInvalid(
      () => redact({ email: 'hsh' as never }),
      "rule 'email': unknown action 'hsh'",
      "'drop', 'hash'",
    );
    expectInvalid(() => redact({ email: { mask: 4 } as never }), 'mask must be { keepLast, char? }');
    expectInvalid(() => redact({ email: { mask: { keepLast: -1 } } }), 'keepLast must be an integer ≥ 0');
    expectInvalid(
      () => redact({ email: { mask: { keepLast: 1, char: '**' } } }),
      'mask.char must be one character',
    );
    expectInvalid(
      () => redact({ email: { mask: { keepLast: 1, keepFirst: 1 } as never } }),
      "unknown mask option 'keepFirst'",
    );
    expectInvalid(() => redact({ note: { detect: ['ssn' as never] } }), "one or more of 'email', 'phone'");
    expectInvalid(() => redact({ note: { detect: [] } }), 'detect must list');
    expectInvalid(
      () => redact({ note: { detect: ['email'], with: 'mask' as never } }),
      "with must be 'hash'",
    );
    expectInvalid(
      () => redact({ note: { detect: ['email'], with: { replace: 1 } as never } }),
      "with must be 'hash'",
    );
    expectInvalid(
      () => redact({ 'tags[]': 'drop' }),
      "'drop' cannot remove array elements",
      "drop the array ('tags')",
    );
    for (const bad of ['', 'a..b', '.a', 'a.', 'a[]b', 'a[', '[].x', 'a[0]']) {
      expectInvalid(() => redact({ [bad]: 'drop' }), `'${bad}' is not a field path`);
    }
    expectInvalid(
      () => redact({ user: 'drop', 'user.email': 'drop' }),
      "rules 'user' and 'user.email' overlap",
    );
    expectInvalid(
      () => redact({ 'user.email': 'drop', user: 'drop' }),
      "rules 'user.email' and 'user' overlap",
    );
    expectInvalid(
      () => redact({ 'a[]': { replace: 1 }, 'a[].b': 'drop' }),
      "rules 'a[]' and 'a[].b' overlap",
    );
  });

  it('a secret is not needed without hashing; drop and mask work without one', async () => {
    const t = redact({ a: 'drop', b: { mask: { keepLast: 0 } } });
    expect((await out(t.apply(input([{ a: 1, b: 'xy' }])))).records).toEqual([{ b: '**' }]);
  });
});

describe('redact: secrets never appear in messages', () => {
  it.each([
    ['a number', 1234567890123456800],
    ['a bigint', 1234567890123456789n],
    ['an array', ['s3cr3t-value-in-an-array']],
    ['a boolean', true],
  ])('a secret given as %s is named by its type only', (_, value) => {
    let message = '';
    try {
      redact({ email: 'hash' }, { secret: value as never });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('secret must be a string or a Uint8Array');
    expect(message).not.toContain(String(value).slice(0, 8));
    expect(message).not.toContain('1234567890');
  });

  it('a short secret is named by its length, not its text', () => {
    expectInvalid(() => redact({ email: 'hash' }, { secret: 'hunter2' }), 'got 7');
    try {
      redact({ email: 'hash' }, { secret: 'hunter2' });
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
    }
  });
});

describe('redact: strict, warnings and dead letters', () => {
  it('strict rejects a record whose path is absent as unknown_field; null along the path is not absent', async () => {
    const t = redact({ 'user.email': 'drop', 'tags[]': { replace: 'x' } }, { strict: true });
    const result = await out(
      t.apply(
        input([
          { user: { email: 'a@b.io' }, tags: ['t'] },
          { user: null, tags: null },
          { user: {}, tags: [] },
          { user: { email: 'a@b.io' }, tags: 'not-an-array' },
          { tags: [] },
        ]),
      ),
    );
    expect(result.records).toEqual([
      { user: {}, tags: ['x'] },
      { user: null, tags: null },
    ]);
    expect(result.rejected).toEqual([
      {
        index: 2,
        reason: 'unknown_field',
        details: { path: 'user.email', error: "the record has no field 'email' there" },
      },
      {
        index: 3,
        reason: 'unknown_field',
        details: { path: 'tags[]', error: 'expected an array, got a string' },
      },
      {
        index: 4,
        reason: 'unknown_field',
        details: { path: 'user.email', error: "the record has no field 'user' there" },
      },
    ]);
  });

  it('warns once per unmatched rule after warnUnmatchedAfter records, and never with false', async () => {
    const t = redact({ notes: 'drop', note: 'drop' }, { warnUnmatchedAfter: 3 });
    await t.apply(input([{ note: 1 }, { note: 2 }]));
    expect(t.warnings!()).toEqual([]);
    await t.apply(input([{ note: 3 }, { note: 4 }]));
    expect(t.warnings!().map((w) => [w.rule, w.records])).toEqual([['notes', 4]]);
    await t.apply(input([{ note: 5 }]));
    expect(t.warnings!()).toHaveLength(1);
    const off = redact({ notes: 'drop' }, { warnUnmatchedAfter: false });
    await off.apply(input(Array.from({ length: 5_000 }, () => ({ note: 1 }))));
    expect(off.warnings!()).toEqual([]);
  });

  it('scrubs a dead letter best effort: rules on objects, detectors on raw text and on details', () => {
    const t = redact({ email: 'hash', 'user.phone': { mask: { keepLast: 2 } } }, { secret });
    const letter = (value: unknown, details: unknown = undefined) => ({
      reason: 'x',
      details,
      value,
      cursor: { partition: 'p', offset: 1 },
      pipeline: 'p',
      batchId: 'b',
      at: 0,
    });
    expect(t.scrubDeadLetter!(letter({ email: 'a@b.io', user: { phone: '0612345678' } })).value).toEqual({
      email: hmac('a@b.io'),
      user: { phone: '********78' },
    });
    expect(t.scrubDeadLetter!(letter({ email: { deep: 'a@b.io' } })).value).toEqual({ email: '[redacted]' });
    // A value of another shape than the path expects keeps nothing (the protected field may be inside).
    expect(t.scrubDeadLetter!(letter({ user: 'call 0612345678' })).value).toEqual({ user: '[redacted]' });
    expect(t.scrubDeadLetter!(letter({ user: [{ phone: '0612345678' }] })).value).toEqual({
      user: '[redacted]',
    });
    expect(t.scrubDeadLetter!(letter({ user: null, email: undefined })).value).toEqual({
      user: null,
      email: undefined,
    });
    expect(t.scrubDeadLetter!(letter('{"email":"a@b.io", tel 0612345678')).value).toBe(
      '{"email":"[redacted]", tel [redacted]',
    );
    expect(
      t.scrubDeadLetter!(letter(7, { error: 'Unexpected token in "a@b.io"', list: ['+33 6 12 34 56 78'] }))
        .details,
    ).toEqual({ error: 'Unexpected token in "[redacted]"', list: ['[redacted]'] });
    // Raw bytes a source could not decode (a Kafka message): scanned as UTF-8.
    const bytes = t.scrubDeadLetter!(letter(Buffer.from('not json: a@b.io'))).value as Uint8Array;
    expect(Buffer.from(bytes).toString('utf8')).toBe('not json: [redacted]');
    const clean = Buffer.from([0xff, 0x00, 0x41]);
    expect(t.scrubDeadLetter!(letter(clean)).value).toBe(clean);
    const same = letter({ other: 1 }, { error: 'plain' });
    expect(t.scrubDeadLetter!(same)).toBe(same);
    const raw = redact({ email: 'hash' }, { secret, deadLetterValue: 'raw' });
    const kept = letter({ email: 'a@b.io' });
    expect(raw.scrubDeadLetter!(kept)).toBe(kept);
  });
});
