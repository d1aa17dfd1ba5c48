/**
 * kafkaSource against a real broker: a million messages over six partitions reach the sink exactly
 * once and in order per partition, with the offsets and plans committed in the group (through
 * kafkaCheckpoint); malformed messages go to a dead-letter topic with their reasons while the
 * pipeline keeps running.
 */
import { describe, expect, it } from 'vitest';
import { recordOffset } from '../../../src/core/batch.js';
import { kafkaCheckpoint, kafkaDeadLetter, kafkaSource } from '../../../src/kafka/index.js';
import { pipeline } from '../../../src/pipeline/builder.js';
import { memorySink } from '../../../src/sinks/memory.js';
import { triggers } from '../../../src/triggers/index.js';
import {
  consumeAll,
  createTopic,
  endOffsets,
  kafkaClients,
  produceJson,
  producerFor,
  waitFor,
} from './helpers.js';
import { committedToEnd, countingSink, type Row, tally } from './pipeline-support.js';

describe('kafkaSource on a real broker', () => {
  const clients = kafkaClients('mb-source-test');
  const consumerOf = (groupId: string) =>
    clients.consumer({ groupId, maxBytesPerPartition: 2 * 1024 * 1024 });

  it('delivers 1,000,000 messages over 6 partitions exactly once, in order per partition', async () => {
    const { admin, producer } = clients;
    const partitions = 6;
    const total = 1_000_000;
    const topic = await createTopic(admin, 'exactly-once', partitions);
    const sizes = await produceJson(producer, topic, partitions, total, (i, p) => ({
      p,
      n: Math.floor(i / partitions),
    }));
    expect(await endOffsets(admin, topic)).toEqual(sizes);
    const groupId = `${topic}-loader`;
    const consumer = await consumerOf(groupId);
    const sink = countingSink(topic, sizes);
    const p = pipeline({ name: 'million', checkpoint: kafkaCheckpoint({ consumer, admin, groupId }) })
      .source(kafkaSource<Row>({ consumer, topics: [topic], fromBeginning: true }))
      .trigger(triggers.any(triggers.volume({ records: 20_000 }), triggers.time('500ms')))
      .sink(sink)
      .build();
    expect(p.metrics().guarantee).toBe('exactly-once');
    const started = Date.now();
    await p.start();
    await waitFor(() => committedToEnd(admin, groupId, topic, sizes), {
      timeoutMs: 150_000,
      intervalMs: 250,
      message: 'the group committing every partition to its end',
    });
    const seconds = (Date.now() - started) / 1000;
    const report = await p.stop();
    console.log(
      `kafkaSource: ${total} messages in ${seconds.toFixed(1)} s (${Math.round(total / seconds)} msg/s), ${sink.batches} batches`,
    );
    expect(tally(sink)).toEqual({ missing: 0, duplicated: 0, firstMissing: [] });
    expect(sink.misplaced).toEqual([]);
    // One worker, no crash, no rebalance: no batch id is ever written twice.
    expect(sink.repeatedWrites).toBe(0);
    expect(sink.badRewrites).toEqual([]);
    expect(report.records).toMatchObject({ in: total, written: total, undelivered: 0, handedOver: 0 });
    // Each partition's offset is committed with its checkpoint state: nothing planned is left.
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    for (const { partition, offset, metadata } of committed!.partitions) {
      expect(Number(offset)).toBe(sizes[partition]);
      expect(metadata).toMatch(new RegExp(`^mb1;[0-9a-f]{8};${sizes[partition]! - 1};$`));
    }
  }, 240_000);

  it('sends malformed messages to the dead-letter topic with their reasons and keeps running', async () => {
    const { kafka, admin, producer } = clients;
    const topic = await createTopic(admin, 'malformed', 2);
    const dlq = await createTopic(admin, 'malformed-dlq', 1);
    await producer.send({
      topic,
      acks: -1,
      messages: [
        { partition: 0, value: '{"n":0}' },
        { partition: 0, key: 'broken-1', value: '{"n":' },
        { partition: 0, value: '{"n":2}' },
        { partition: 1, value: Buffer.from([0xff, 0xfe]) },
        { partition: 1, key: 'k', value: '{"n":1}', headers: { trace: 'abc' } },
      ],
    });
    const groupId = `${topic}-loader`;
    const consumer = await consumerOf(groupId);
    const dlqProducer = producerFor(kafka);
    await dlqProducer.connect();
    const sink = memorySink<{ n: number }>();
    const p = pipeline({ name: 'malformed', checkpoint: kafkaCheckpoint({ consumer, admin, groupId }) })
      .source(kafkaSource<{ n: number }>({ consumer, topics: [topic], fromBeginning: true }))
      .trigger(triggers.time('100ms'))
      .sink(sink)
      .deadLetter(kafkaDeadLetter({ producer: dlqProducer, topic: dlq }))
      .build();
    await p.start();
    await waitFor(() => committedToEnd(admin, groupId, topic, [3, 2]), { timeoutMs: 60_000 });
    // Still running: a message produced now is read too.
    await producer.send({ topic, acks: -1, messages: [{ partition: 1, value: '{"n":2}' }] });
    await waitFor(() => committedToEnd(admin, groupId, topic, [3, 3]), { timeoutMs: 60_000 });
    const report = await p.stop();
    await dlqProducer.disconnect();
    expect(report.status).toBe('stopped');
    expect(report.records).toMatchObject({ in: 6, written: 4, deadLettered: 2 });
    expect(sink.records.map((r) => r.n).sort()).toEqual([0, 1, 2, 2]);
    const keysByOffset = new Map(
      sink.batches.flatMap((b) => (b.keys ?? []).map((k, i) => [`${b.partition}@${recordOffset(b, i)}`, k])),
    );
    expect(keysByOffset.get(`${topic}-1@1`)).toBe('k');

    const letters = await consumeAll(kafka, dlq);
    expect(letters).toHaveLength(2);
    const byOffset = new Map(
      letters.map((m) => [`${m.headers['mb-source-partition']}@${m.headers['mb-offset']}`, m]),
    );
    const broken = byOffset.get('0@1')!;
    expect(broken.key).toBe('broken-1');
    expect(broken.value).toBe('{"n":');
    expect(broken.headers).toMatchObject({
      'mb-reason': 'malformed',
      'mb-pipeline': 'malformed',
      'mb-partition': `${topic}-0`,
      'mb-source-topic': topic,
      'mb-source-partition': '0',
      'mb-offset': '1',
      'mb-value': 'bytes',
      'mb-id': `malformed.${topic}-0.1`,
    });
    expect(JSON.parse(broken.headers['mb-details']!)).toMatchObject({
      topic,
      partition: 0,
      offset: 1,
      key: 'broken-1',
    });
    expect(broken.headers['mb-batch-id']).toMatch(new RegExp(`^malformed\\.${topic}-0\\.`));
    const binary = byOffset.get('1@0')!;
    expect(binary.headers['mb-reason']).toBe('malformed');
    expect(JSON.parse(binary.headers['mb-details']!).error).toBe('the value is not valid UTF-8');
    expect(binary.key).toBe(`malformed.${topic}-1.0`); // no original key: the letter's id
  }, 120_000);
});
