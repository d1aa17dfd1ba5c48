/**
 * kafkaDeadLetter on a producer double: one message per letter, its value (raw bytes or JSON), key
 * and `mb-*` headers; retryable producer errors marked retryable; limits on value and details.
 */
import { describe, expect, it } from 'vitest';
import type { Batch, DeadLetter } from '../../src/core/batch.js';
import { DEAD_LETTER_HEADERS, kafkaDeadLetter } from '../../src/kafka/index.js';
import { expectCode, expectInvalid, rejection } from '../support.js';
import { fakeProducer } from './fake-kafka.js';

function letter(overrides: Partial<DeadLetter> = {}): DeadLetter {
  return {
    reason: 'type_mismatch',
    details: [{ path: ['price'], message: 'expected number' }],
    value: { sku: 'a', price: 'x' },
    cursor: { partition: 'raw_prices-3', offset: 41 },
    pipeline: 'prices',
    batchId: 'prices.raw_prices-3.0000000000000040-0000000000000049',
    at: 1_700_000_000_000,
    ...overrides,
  };
}

function batchOf(letters: DeadLetter[], keys?: (string | undefined)[]): Batch<DeadLetter> {
  return {
    id: `${letters[0]!.batchId}.dead`,
    partition: letters[0]!.cursor.partition,
    firstOffset: 40,
    lastOffset: 49,
    records: letters,
    offsets: letters.map((l) => l.cursor.offset),
    keys,
    bytes: 0,
    reason: 'time',
    openedAt: 0,
    closedAt: 0,
  };
}

const write = { signal: new AbortController().signal, attempt: 1 };

describe('kafkaDeadLetter', () => {
  it('checks its options', () => {
    const producer = fakeProducer();
    expectInvalid(() => kafkaDeadLetter({ producer: {} as never, topic: 'dlq' }), 'producer');
    expectInvalid(() => kafkaDeadLetter({ producer, topic: 'no spaces' }), 'not a Kafka topic name');
    expectInvalid(() => kafkaDeadLetter({ producer, topic: 'dlq', acks: 2 as never }), 'acks');
  });

  it('produces one message per letter: JSON value, original key, reason and origin in headers', async () => {
    const producer = fakeProducer();
    const sink = kafkaDeadLetter({ producer, topic: 'raw_prices.dlq' });
    await sink.write(
      batchOf(
        [letter(), letter({ cursor: { partition: 'raw_prices-3', offset: 45 } })],
        ['sku-a', undefined],
      ),
      write,
    );
    expect(producer.sent).toHaveLength(1);
    const { topic, messages, acks, timeout } = producer.sent[0]!;
    expect({ topic, acks, timeout }).toEqual({ topic: 'raw_prices.dlq', acks: -1, timeout: 30_000 });
    expect(messages[0]).toEqual({
      key: 'sku-a',
      value: Buffer.from('{"sku":"a","price":"x"}'),
      headers: {
        'mb-id': 'prices.raw_prices-3.41',
        'mb-reason': 'type_mismatch',
        'mb-details': '[{"path":["price"],"message":"expected number"}]',
        'mb-pipeline': 'prices',
        'mb-batch-id': 'prices.raw_prices-3.0000000000000040-0000000000000049',
        'mb-partition': 'raw_prices-3',
        'mb-offset': '41',
        'mb-source-topic': 'raw_prices',
        'mb-source-partition': '3',
        'mb-at': '1700000000000',
        'mb-value': 'json',
      },
    });
    // No original key: the letter's id, stable across retries and replays.
    expect(messages[1]!.key).toBe('prices.raw_prices-3.45');
    expect(Object.values(DEAD_LETTER_HEADERS)).toEqual(
      expect.arrayContaining(Object.keys(messages[0]!.headers)),
    );
    expect(sink.sent).toBe(2);
  });

  it('keeps the raw bytes of a malformed message, and its key from the details', async () => {
    const producer = fakeProducer();
    const sink = kafkaDeadLetter({ producer, topic: 'dlq' });
    const raw = Buffer.from([0x7b, 0xff, 0x00]);
    await sink.write(
      batchOf([
        letter({
          reason: 'malformed',
          value: raw,
          details: { topic: 'raw_prices', partition: 3, offset: 41, key: 'k9', error: 'bad' },
        }),
      ]),
      write,
    );
    const message = producer.sent[0]!.messages[0]!;
    expect(message.value).toEqual(raw);
    expect(message.key).toBe('k9');
    expect(message.headers['mb-value']).toBe('bytes');
    expect(JSON.parse(message.headers['mb-details']!)).toEqual({
      topic: 'raw_prices',
      partition: 3,
      offset: 41,
      key: 'k9',
      error: 'bad',
    });
  });

  it('leaves out source headers for lanes that are not Kafka partitions, and cuts long values and details', async () => {
    const producer = fakeProducer();
    const sink = kafkaDeadLetter({ producer, topic: 'dlq', maxValueBytes: 10, maxDetailsBytes: 8 });
    await sink.write(
      batchOf([
        letter({
          cursor: { partition: './data/in.jsonl', offset: 7 },
          value: 'é'.repeat(20),
          details: 'ééééé',
        }),
      ]),
      write,
    );
    const message = producer.sent[0]!.messages[0]!;
    expect(message.headers['mb-source-topic']).toBeUndefined();
    expect(message.headers['mb-truncated']).toBe(String(Buffer.byteLength(JSON.stringify('é'.repeat(20)))));
    expect((message.value as Buffer).length).toBe(10);
    expect(message.headers['mb-details']).toBe('"ééé'); // 7 bytes: a cut character is dropped
  });

  it('sends in groups of messagesPerSend', async () => {
    const producer = fakeProducer();
    const sink = kafkaDeadLetter({ producer, topic: 'dlq', messagesPerSend: 2 });
    await sink.write(
      batchOf([1, 2, 3, 4, 5].map((offset) => letter({ cursor: { partition: 'p-0', offset } }))),
      write,
    );
    expect(producer.sent.map((s) => s.messages.length)).toEqual([2, 2, 1]);
  });

  it('marks retriable producer errors retryable and others fatal', async () => {
    const producer = fakeProducer();
    const sink = kafkaDeadLetter({ producer, topic: 'dlq' });
    producer.failures.push(Object.assign(new Error('leader not available'), { retriable: true }));
    const retryable = expectCode(
      await rejection(Promise.resolve(sink.write(batchOf([letter()]), write))),
      'MB_DEAD_LETTER_FAILED',
    );
    expect(retryable.retryable).toBe(true);
    producer.failures.push(
      Object.assign(new Error('message too large'), { retriable: false, type: 'MESSAGE_TOO_LARGE' }),
    );
    const fatal = expectCode(
      await rejection(Promise.resolve(sink.write(batchOf([letter()]), write))),
      'MB_DEAD_LETTER_FAILED',
    );
    expect(fatal.retryable).toBe(false);
    expect(fatal.message).toContain('message too large');
  });
});
