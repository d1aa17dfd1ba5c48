import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decimal, decodeJson } from '../../src/kafka/message.js';

describe('decimal (offsets and timestamps as kafkajs hands them over)', () => {
  it('reads what Number() reads, for any string', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.stringMatching(/^[0-9]{0,20}$/),
          fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
          fc.string(),
        ),
        (text) => {
          expect(Object.is(decimal(text), Number(text))).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('reads the edges of its fast path exactly', () => {
    expect(decimal('999999999999999')).toBe(999_999_999_999_999);
    expect(decimal('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    expect(decimal('9007199254740993')).toBe(Number('9007199254740993'));
    expect(decimal('1796656744589')).toBe(1_796_656_744_589);
    expect(decimal('-1')).toBe(-1);
    expect(decimal('')).toBe(0);
    expect(decimal('12a')).toBeNaN();
    expect(decimal(42)).toBe(42);
  });
});

describe('decodeJson', () => {
  it('parses UTF-8 JSON, drops a leading BOM, reads a tombstone as null', () => {
    expect(decodeJson(Buffer.from('{"a":"é"}'))).toEqual({ a: 'é' });
    expect(decodeJson(Buffer.from('\uFEFF[1]'))).toEqual([1]);
    expect(decodeJson(null)).toBeNull();
  });

  it('rejects invalid UTF-8, even inside a string, and a replacement character is not taken for it', () => {
    expect(() => decodeJson(Buffer.from([0x22, 0xff, 0x22]))).toThrow('the value is not valid UTF-8');
    expect(() => decodeJson(Buffer.from([0x22, 0xc3, 0x22]))).toThrow('the value is not valid UTF-8');
    expect(decodeJson(Buffer.from('"\uFFFD"'))).toBe('\uFFFD');
  });

  it('rejects what Buffer decoding would quietly replace: overlong forms, encoded surrogates, a real U+FFFD beside a bad byte', () => {
    const bad = [
      [0x22, 0xc0, 0x80, 0x22], // overlong NUL
      [0x22, 0xe0, 0x80, 0xaf, 0x22], // overlong '/'
      [0x22, 0xed, 0xa0, 0x80, 0x22], // a UTF-16 surrogate encoded as UTF-8
      [0x22, 0xf4, 0x90, 0x80, 0x80, 0x22], // above U+10FFFF
      [0x22, ...Buffer.from('\uFFFD'), 0xff, 0x22], // a genuine replacement character, then a bad byte
    ];
    for (const bytes of bad)
      expect(() => decodeJson(Buffer.from(bytes))).toThrow('the value is not valid UTF-8');
  });

  it('reads a value that is only a BOM as empty JSON (malformed), and a BOM inside a string is kept', () => {
    expect(() => decodeJson(Buffer.from('\uFEFF'))).toThrow(SyntaxError);
    expect(decodeJson(Buffer.from('"a\uFEFFb"'))).toBe('a\uFEFFb');
  });
});
