/**
 * kafkajs's own objects fit the structural client types (checked by the type-checker: this file is
 * part of `tsc -p test/tsconfig.json`), so users pass them without casts.
 */
import { Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import type { KafkaAdminLike, KafkaConsumerLike, KafkaProducerLike } from '../../src/kafka/index.js';
import { kafkaCheckpoint, kafkaDeadLetter, kafkaSource } from '../../src/kafka/index.js';

describe('kafkajs clients', () => {
  it('are accepted as they are', () => {
    // No connection is made: creating clients and passing them to the factories is all.
    const kafka = new Kafka({ clientId: 'types', brokers: ['127.0.0.1:1'] });
    const consumer: KafkaConsumerLike = kafka.consumer({ groupId: 'g' });
    const admin: KafkaAdminLike = kafka.admin();
    const producer: KafkaProducerLike = kafka.producer();
    expect(kafkaSource({ consumer, topics: ['t'] }).kind).toBe('kafka');
    expect(kafkaCheckpoint({ consumer, admin, groupId: 'g' }).kind).toBe('kafka');
    expect(kafkaDeadLetter({ producer, topic: 'dlq' }).kind).toBe('kafka-dead-letter');
    // Straight from kafkajs, without the annotations above.
    expect(kafkaSource({ consumer: kafka.consumer({ groupId: 'h' }), topics: ['t'] }).replayable).toBe(true);
  });
});
