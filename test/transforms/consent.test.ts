import { describe, expect, it } from 'vitest';
import { requireConsent } from '../../src/transforms/consent.js';
import { expectInvalid } from '../support.js';
import { input, out } from './helpers.js';

describe('requireConsent', () => {
  it('keeps records with consent and rejects the others as consent_missing', async () => {
    const records = [{ ok: true }, { ok: false }, { ok: true }];
    const t = requireConsent((r: { ok: boolean }) => r.ok);
    expect(t.name).toBe('require-consent');
    expect(await out(t.apply(input(records)))).toEqual({
      records: [records[0], records[2]],
      from: [0, 2],
      rejected: [{ index: 1, reason: 'consent_missing', details: undefined }],
    });
  });

  it('fails closed: a throwing predicate or a non-boolean answer means no consent', async () => {
    const t = requireConsent((r: { ok: unknown }) => {
      if (r.ok === 'throw') throw new Error('no consent table');
      return r.ok as boolean;
    });
    const result = await out(t.apply(input([{ ok: 'throw' }, { ok: 'yes' }, { ok: 1 }])));
    expect(result.records).toEqual([]);
    expect(result.rejected).toEqual([
      { index: 0, reason: 'consent_missing', details: { error: 'predicate threw: no consent table' } },
      { index: 1, reason: 'consent_missing', details: { returned: "'yes'" } },
      { index: 2, reason: 'consent_missing', details: { returned: '1' } },
    ]);
  });

  it('needs a function', () => {
    expectInvalid(() => requireConsent(true as never), 'requireConsent(predicate)', 'function');
  });
});

describe('requireConsent: dead letters', () => {
  const letter = (reason: string, value: unknown, details?: unknown) => ({
    reason,
    details,
    value,
    cursor: { partition: 'p', offset: 4 },
    pipeline: 'p',
    batchId: 'b',
    at: 0,
  });

  it('a consent_missing letter keeps no value by default; other letters are not its business', () => {
    const t = requireConsent<{ ok: boolean }>((r) => r.ok);
    expect(t.scrubDeadLetter!(letter('consent_missing', { ok: false, email: 'a@b.io' }))).toEqual(
      letter('consent_missing', undefined, { valueWithheld: true }),
    );
    expect(
      t.scrubDeadLetter!(letter('consent_missing', { ok: 'yes' }, { returned: "'yes'" })).details,
    ).toEqual({
      consent: { returned: "'yes'" },
      valueWithheld: true,
    });
    const other = letter('type_mismatch', { ok: 1 });
    expect(t.scrubDeadLetter!(other)).toBe(other);
  });

  it("deadLetterValue: 'kept' keeps it; options are checked", () => {
    const t = requireConsent<{ ok: boolean }>((r) => r.ok, { deadLetterValue: 'kept' });
    const kept = letter('consent_missing', { ok: false });
    expect(t.scrubDeadLetter!(kept)).toBe(kept);
    expectInvalid(() => requireConsent(() => true, { deadLetterValue: 'all' as never }), "'none' or 'kept'");
    expectInvalid(() => requireConsent(() => true, { keep: 1 } as never), "unknown option 'keep'");
  });
});
