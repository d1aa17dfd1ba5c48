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
