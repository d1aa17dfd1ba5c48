/**
 * microbatch/kafka: a Kafka source with exactly-once effect, a checkpoint store kept in the
 * consumer group's commit metadata, and a dead-letter producer. Bring your own client (kafkajs 2.x
 * or a KafkaJS-compatible one): microbatch only calls the methods declared in `./types.ts`.
 * @packageDocumentation
 */
export { type KafkaCheckpointStore, kafkaCheckpoint } from './checkpoint.js';
export { DEAD_LETTER_HEADERS, type KafkaDeadLetterSink, kafkaDeadLetter } from './dead-letter.js';
export type {
  KafkaCheckpointOptions,
  KafkaDeadLetterOptions,
  KafkaMessage,
  KafkaSourceOptions,
} from './options.js';
export { kafkaPartition, parseKafkaPartition } from './partition.js';
export { type KafkaSource, type KafkaSourceMetrics, kafkaSource } from './source.js';
export type {
  KafkaAdminLike,
  KafkaBatchLike,
  KafkaConsumerLike,
  KafkaEachBatchPayloadLike,
  KafkaEventLike,
  KafkaHeaders,
  KafkaMessageLike,
  KafkaOutgoingMessage,
  KafkaProducerLike,
} from './types.js';
