import { describe, expect, it } from 'vitest';
import { volume } from '../../src/triggers/volume.js';
import { expectInvalid } from '../support.js';
import { lane } from './lane.js';

describe('triggers.volume', () => {
  it('fires on the record count', () => {
    const trigger = volume({ records: 100 });
    expect(trigger.check(lane(99), 0)).toBeUndefined();
    expect(trigger.check(lane(100), 0)).toBe('records');
    expect(trigger.check(lane(150), 0)).toBe('records');
  });

  it('fires on the byte size', () => {
    const trigger = volume({ bytes: '1KB' });
    expect(trigger.check(lane(5, 999), 0)).toBeUndefined();
    expect(trigger.check(lane(5, 1_000), 0)).toBe('bytes');
  });

  it('reports records before bytes when both are reached', () => {
    const trigger = volume({ records: 10, bytes: 100 });
    expect(trigger.check(lane(10, 100), 0)).toBe('records');
    expect(trigger.check(lane(9, 100), 0)).toBe('bytes');
  });

  it('never fires on time', () => {
    const trigger = volume({ records: 10 });
    expect(trigger.deadline(lane(1, 0, 0))).toBe(Number.POSITIVE_INFINITY);
    expect(trigger.check(lane(1, 0, 0), 1e12)).toBeUndefined();
  });

  it('gives the records still to take as headroom, at least 1', () => {
    const trigger = volume({ records: 10 });
    expect(trigger.headroom(lane(0))).toBe(10);
    expect(trigger.headroom(lane(7))).toBe(3);
    expect(trigger.headroom(lane(10))).toBe(1);
    expect(trigger.headroom(lane(25))).toBe(1);
    expect(volume({ bytes: 100 }).headroom(lane(3))).toBe(Number.POSITIVE_INFINITY);
  });

  it('caps batches at its thresholds and sizes records only for a byte threshold', () => {
    expect(volume({ records: 10 }).caps).toEqual({ records: 10, bytes: Number.POSITIVE_INFINITY });
    expect(volume({ bytes: '8MB' }).caps).toEqual({ records: Number.POSITIVE_INFINITY, bytes: 8e6 });
    expect(volume({ records: 10, bytes: '1GiB' }).caps).toEqual({ records: 10, bytes: 1024 ** 3 });
    expect(volume({ records: 10 }).usesBytes).toBe(false);
    expect(volume({ bytes: 10 }).usesBytes).toBe(true);
    expect(volume({ records: 10 }).mode).toBe('volume');
  });

  it('describes its thresholds', () => {
    expect(volume({ records: 5000 }).description).toBe('volume(5000 records)');
    expect(volume({ bytes: '8MB' }).description).toBe('volume(8.0MB)');
    expect(volume({ records: 10_000, bytes: '8MB' }).description).toBe('volume(10000 records, 8.0MB)');
  });

  it('needs records or bytes', () => {
    expectInvalid(() => volume({}), 'triggers.volume()', '{ records }', '{ bytes }');
    expectInvalid(() => volume(undefined as never), 'triggers.volume()');
    expectInvalid(() => volume(null as never), 'triggers.volume()');
  });

  it.each([[0], [-1], [1.5], ['10']])('rejects records: %j naming the option and the value', (records) => {
    expectInvalid(() => volume({ records: records as number }), 'triggers.volume({ records })', 'got');
  });

  it('says what was wrong with volume({ records: 0 })', () => {
    expectInvalid(() => volume({ records: 0 }), 'triggers.volume({ records })', 'integer ≥ 1', 'got 0');
  });

  it.each([[0], ['lots'], [-5], ['8TB']])('rejects bytes: %j naming the option', (bytes) => {
    expectInvalid(() => volume({ bytes: bytes as never }), 'triggers.volume({ bytes })', 'positive size');
  });
});
