/**
 * Dead letters follow the pipeline's privacy rules (issue 14): the attack from the issue — validate
 * → requireConsent → redact → jsonLinesDeadLetter — must leave no raw personal data in the
 * dead-letter files, whichever step rejected the record, and the documented opt-outs restore it.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Logger } from '../../src/core/logger.js';
import { pipeline } from '../../src/pipeline/builder.js';
import { jsonLinesDeadLetter } from '../../src/sinks/dead-letter-json-lines.js';
import { memorySink } from '../../src/sinks/memory.js';
import { fromJsonLines } from '../../src/sources/json-lines.js';
import { testClock } from '../../src/testing/clock.js';
import { requireConsent } from '../../src/transforms/consent.js';
import { redact } from '../../src/transforms/redact.js';
import { validate } from '../../src/transforms/validate.js';
import { volume } from '../../src/triggers/volume.js';
import { readDeadLetterDir } from '../sources/dead-letter-fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mb-dl-privacy-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const Customer = z.object({
  id: z.number(),
  // An object is valid here, so that redact meets it under 'hash' and rejects it as unredactable.
  email: z.union([z.string(), z.record(z.string(), z.string())]),
  note: z.string(),
  consent: z.boolean(),
});
type Customer = z.infer<typeof Customer>;
const secret = 'a-secret-of-at-least-16-bytes';

const LINES = [
  // kept: consent, valid
  '{"id":1,"email":"ann@shop.io","note":"mail me: ann@shop.io","consent":true}',
  // consent_missing
  '{"id":2,"email":"bob@shop.io","note":"call +33 1 23 45 67 89","consent":false}',
  // type_mismatch (id is a string), with consent
  '{"id":"3","email":"carol@shop.io","note":"or carol@shop.io","consent":true}',
  // unredactable: email is an object under 'hash'
  '{"id":4,"email":{"home":"dan@shop.io"},"note":"dan@shop.io","consent":true}',
  // malformed JSON quoting an address and a phone number
  '{"id":5,"email":"eve@shop.io","note":"555-123-4567",',
];

async function run(options: { consent?: 'none' | 'kept'; redact?: 'redacted' | 'raw' } = {}) {
  const path = join(dir, 'in.jsonl');
  await writeFile(path, `${LINES.join('\n')}\n`);
  const deadDir = join(dir, `dead-${options.consent ?? 'd'}-${options.redact ?? 'd'}`);
  const clock = testClock();
  const sink = memorySink<Customer>();
  const report = await clock.runUntil(
    pipeline({ name: 'customers', clock })
      .source(fromJsonLines(path, { partition: 'p' }))
      .trigger(volume({ records: 10 }))
      .transform(
        validate(Customer),
        requireConsent<Customer>((r) => r.consent, { deadLetterValue: options.consent ?? 'none' }),
        redact<Customer>(
          { email: 'hash', note: { detect: ['email', 'phone'] } },
          { secret, deadLetterValue: options.redact ?? 'redacted' },
        ),
      )
      .sink(sink)
      .deadLetter(jsonLinesDeadLetter({ dir: deadDir }))
      .build()
      .run(),
  );
  const files = await readDeadLetterDir(deadDir);
  const names = await readdir(deadDir);
  const raw = (await Promise.all(names.map((n) => readFile(join(deadDir, n), 'utf8')))).join('');
  return { report, sink, letters: files, raw };
}

const PERSONAL = /ann@|bob@|carol@|dan@|eve@|\+33 1 23|555-123-4567/;

describe('dead letters follow the privacy rules', () => {
  it('no raw e-mail address or phone number in any dead-letter file, whatever the reason', async () => {
    const { report, letters, raw, sink } = await run();
    expect(report.status).toBe('completed');
    expect(sink.records).toHaveLength(1);
    expect(letters.map((l) => l.reason).sort()).toEqual(
      ['consent_missing', 'malformed', 'type_mismatch', 'unredactable'].sort(),
    );
    expect(raw).not.toMatch(PERSONAL);
    expect(report.records.in).toBe(report.records.written + report.records.deadLettered);
  });

  it('consent_missing keeps no value: only reason, cursor, batch and a note that it was withheld', async () => {
    const { letters } = await run();
    const letter = letters.find((l) => l.reason === 'consent_missing')!;
    expect(letter.value).toBeUndefined();
    expect(letter.details).toEqual({ valueWithheld: true });
    expect(letter.cursor.partition).toBe('p');
    expect(letter.cursor.offset).toBe(LINES[0]!.length + 1);
  });

  it('other letters keep the value with the redact rules applied, best effort', async () => {
    const { letters } = await run();
    const mismatch = letters.find((l) => l.reason === 'type_mismatch')!.value as Record<string, unknown>;
    expect(mismatch.id).toBe('3'); // what made it fail is still there to debug
    expect(mismatch.email).toMatch(/^[0-9a-f]{64}$/);
    expect(mismatch.note).toBe('or [redacted]');
    const unredactable = letters.find((l) => l.reason === 'unredactable')!.value as Record<string, unknown>;
    expect(unredactable.email).toBe('[redacted]');
    expect(unredactable.note).toBe('[redacted]');
    const malformed = letters.find((l) => l.reason === 'malformed')!;
    expect(malformed.value).toBe('{"id":5,"email":"[redacted]","note":"[redacted]",');
  });

  it("the opt-outs: deadLetterValue 'kept' and 'raw' keep the value as the source gave it", async () => {
    const { raw, letters } = await run({ consent: 'kept', redact: 'raw' });
    expect(raw).toMatch(/bob@shop\.io/);
    expect(letters.find((l) => l.reason === 'consent_missing')!.value).toMatchObject({
      email: 'bob@shop.io',
    });
    // Consent kept, redaction on: the consent letter's value is redacted like the others.
    const { letters: redacted } = await run({ consent: 'kept' });
    const value = redacted.find((l) => l.reason === 'consent_missing')!.value as Record<string, unknown>;
    expect(value.email).toMatch(/^[0-9a-f]{64}$/);
    expect(value.note).toBe('call [redacted]');
  });
});

describe('redact rules that cannot silently miss', () => {
  const lines = Array.from({ length: 30 }, (_, i) =>
    JSON.stringify({ id: i, note: `mail me: u${i}@shop.io` }),
  );

  async function runWith(rules: Parameters<typeof redact>[0], options: Parameters<typeof redact>[1]) {
    const path = join(dir, 'notes.jsonl');
    await writeFile(path, `${lines.join('\n')}\n`);
    const warnings: { obj: unknown; msg: string }[] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      error() {},
      warn(obj: unknown, msg?: string) {
        if ((obj as { code?: string }).code === 'rule_unmatched') warnings.push({ obj, msg: msg ?? '' });
      },
    };
    const clock = testClock();
    const sink = memorySink();
    const p = pipeline({ name: 'notes', clock, logger })
      .source(fromJsonLines(path, { partition: 'p' }))
      .trigger(volume({ records: 7 }))
      .transform(redact(rules, options))
      .sink(sink)
      .build();
    const report = await clock.runUntil(p.run());
    return { report, sink, warnings, metrics: p.metrics() };
  }

  it('a typo in a path is reported once, through the logger and metrics(), after warnUnmatchedAfter records', async () => {
    const { warnings, metrics, sink } = await runWith(
      { notes: { detect: ['email'] } },
      { warnUnmatchedAfter: 10 },
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toContain("rule 'notes' matched none of the first 14 records");
    expect(metrics.transforms.warnings).toEqual([
      expect.objectContaining({ transform: 'redact', code: 'rule_unmatched', rule: 'notes', records: 14 }),
    ]);
    // Not strict: the data went through, which is why the warning exists.
    expect((sink.records[0] as { note: string }).note).toBe('mail me: u0@shop.io');
  });

  it('a rule that matches raises no warning', async () => {
    const { warnings, metrics } = await runWith({ note: { detect: ['email'] } }, { warnUnmatchedAfter: 10 });
    expect(warnings).toEqual([]);
    expect(metrics.transforms.warnings).toEqual([]);
  });

  it('strict: a record without the path is dead-lettered as unknown_field, nothing passes unredacted', async () => {
    const { report, sink } = await runWith({ notes: { detect: ['email'] } }, { strict: true });
    expect(sink.records).toEqual([]);
    expect(report.rejected).toEqual({ unknown_field: 30 });
    const letters = report.deadLetters!;
    expect(letters[0]!.details).toEqual({ path: 'notes', error: "the record has no field 'notes' there" });
    // The kept letters follow the rules too (best effort): the path is absent, so the note stays;
    // strings in the details are scanned.
    expect(JSON.stringify(letters[0]!.details)).not.toMatch(/@shop/);
  });
});
