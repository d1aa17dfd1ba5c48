import { type DeadLetter, safeName } from '../core/batch.js';
import { describeError, invalidOptions, MicrobatchError } from '../core/errors.js';
import { parseCount, parseDuration, parseSize, show } from '../core/units.js';
import type { Sink } from '../sinks/types.js';
import { isClientRetriable } from './link.js';
import type { KafkaDeadLetterOptions } from './options.js';
import { parseKafkaPartition } from './partition.js';
import type { KafkaOutgoingMessage } from './types.js';

/** The headers of a dead-letter message, by what they hold. */
export const DEAD_LETTER_HEADERS = {
  /** `<pipeline>.<partition>.<offset>` escaped like a batch id: the same for every copy of a letter. */
  id: 'mb-id',
  reason: 'mb-reason',
  /** JSON of the letter's details, cut at `maxDetailsBytes`. */
  details: 'mb-details',
  pipeline: 'mb-pipeline',
  /** The batch whose range holds the record. */
  batchId: 'mb-batch-id',
  /** The pipeline partition (lane) of the record: `<topic>-<partition>` with kafkaSource. */
  partition: 'mb-partition',
  offset: 'mb-offset',
  /** The source topic, when the lane is a Kafka partition name. */
  sourceTopic: 'mb-source-topic',
  /** The source partition number, when the lane is a Kafka partition name. */
  sourcePartition: 'mb-source-partition',
  /** When the record was rejected, ms since epoch. */
  at: 'mb-at',
  /** `bytes` (the original message value, unchanged) or `json` (the JSON of the record). */
  value: 'mb-value',
  /** The original size of a value cut at `maxValueBytes`. */
  truncated: 'mb-truncated',
} as const;

/** A dead-letter sink producing to Kafka; see {@link kafkaDeadLetter}. */
export interface KafkaDeadLetterSink extends Sink<DeadLetter> {
  readonly kind: 'kafka-dead-letter';
  /** Messages produced so far (retried batches count again). */
  readonly sent: number;
}

/**
 * Writes dead letters to a Kafka topic, one message per letter: the original bytes of a message
 * that could not be decoded (else the JSON of the record) as the value, the original key (else the
 * letter's id), and the reason, details and origin in `mb-*` headers ({@link DEAD_LETTER_HEADERS}).
 *
 * A Kafka producer cannot take back a message, so after a crash or a retry a letter may be produced
 * again: dead letters to Kafka are **at-least-once**. Every copy carries the same `mb-id` header;
 * a consumer of the dead-letter topic de-duplicates on it.
 */
export function kafkaDeadLetter(options: KafkaDeadLetterOptions): KafkaDeadLetterSink {
  if (typeof options !== 'object' || options === null) {
    throw invalidOptions(`kafkaDeadLetter(options): expected an object; got ${show(options)}`);
  }
  const { producer, topic } = options;
  if (typeof (producer as { send?: unknown } | undefined)?.send !== 'function') {
    throw invalidOptions(
      'kafkaDeadLetter({ producer }): expected a connected Kafka producer (kafkajs kafka.producer())',
    );
  }
  if (typeof topic !== 'string' || !/^[A-Za-z0-9._-]{1,249}$/.test(topic)) {
    throw invalidOptions(`kafkaDeadLetter({ topic }): ${show(topic)} is not a Kafka topic name`);
  }
  const acks = options.acks ?? -1;
  if (acks !== -1 && acks !== 0 && acks !== 1) {
    throw invalidOptions(`kafkaDeadLetter({ acks }): expected -1, 0 or 1; got ${show(acks)}`);
  }
  const timeout = parseDuration(options.timeout ?? 30_000, 'kafkaDeadLetter({ timeout })');
  const perSend = parseCount(options.messagesPerSend ?? 500, 'kafkaDeadLetter({ messagesPerSend })');
  const maxValueBytes = parseSize(options.maxValueBytes ?? 900 * 1024, 'kafkaDeadLetter({ maxValueBytes })');
  const maxDetailsBytes = parseSize(
    options.maxDetailsBytes ?? 16 * 1024,
    'kafkaDeadLetter({ maxDetailsBytes })',
  );
  let sent = 0;

  return {
    kind: 'kafka-dead-letter',
    get sent() {
      return sent;
    },
    async write(batch, { signal }) {
      const messages = batch.records.map((letter, i) =>
        deadLetterMessage(letter, batch.keys?.[i], { maxValueBytes, maxDetailsBytes }),
      );
      for (let from = 0; from < messages.length; from += perSend) {
        if (signal.aborted) throw signal.reason;
        const part = messages.slice(from, from + perSend);
        try {
          await producer.send({ topic, messages: part, acks, timeout });
        } catch (error) {
          throw new MicrobatchError(
            'MB_DEAD_LETTER_FAILED',
            `kafkaDeadLetter: producing ${part.length} dead letters of batch ${batch.id} to '${topic}' failed: ${describeError(error)}`,
            { cause: error, retryable: isClientRetriable(error), details: { topic, batchId: batch.id } },
          );
        }
        sent += part.length;
      }
    },
  };
}

/** The stable id of a dead letter: its record's place, independent of batch boundaries. */
export function deadLetterId(letter: DeadLetter): string {
  return `${safeName(letter.pipeline)}.${safeName(letter.cursor.partition)}.${letter.cursor.offset}`;
}

/** One dead letter as a Kafka message. */
export function deadLetterMessage(
  letter: DeadLetter,
  key: string | undefined,
  limits: { maxValueBytes: number; maxDetailsBytes: number },
): KafkaOutgoingMessage {
  const H = DEAD_LETTER_HEADERS;
  const id = deadLetterId(letter);
  const raw = letter.value;
  let value: Buffer;
  let encoding: 'bytes' | 'json';
  if (raw instanceof Uint8Array) {
    value = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    encoding = 'bytes';
  } else {
    value = Buffer.from(jsonOf(raw) ?? 'null', 'utf8');
    encoding = 'json';
  }
  const headers: Record<string, string> = {
    [H.id]: id,
    [H.reason]: String(letter.reason),
    [H.details]: cut(jsonOf(letter.details) ?? 'null', limits.maxDetailsBytes),
    [H.pipeline]: letter.pipeline,
    [H.batchId]: letter.batchId,
    [H.partition]: letter.cursor.partition,
    [H.offset]: String(letter.cursor.offset),
    [H.at]: String(letter.at),
    [H.value]: encoding,
  };
  const source = parseKafkaPartition(letter.cursor.partition);
  if (source !== undefined) {
    headers[H.sourceTopic] = source.topic;
    headers[H.sourcePartition] = String(source.partition);
  }
  if (value.length > limits.maxValueBytes) {
    headers[H.truncated] = String(value.length);
    value = value.subarray(0, limits.maxValueBytes);
  }
  const details = letter.details as { key?: unknown } | null | undefined;
  const originalKey = key ?? (typeof details?.key === 'string' ? details.key : undefined);
  return { key: originalKey ?? id, value, headers };
}

/** JSON text of a value; what JSON cannot hold (a bigint, a cycle) falls back to a description. */
function jsonOf(value: unknown): string | undefined {
  try {
    return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  } catch (error) {
    return JSON.stringify(`[not JSON: ${describeError(error)}]`);
  }
}

/** Cuts a text to at most `bytes` UTF-8 bytes, on a character boundary. */
function cut(text: string, bytes: number): string {
  if (Buffer.byteLength(text) <= bytes) return text;
  const buffer = Buffer.from(text, 'utf8').subarray(0, bytes);
  // Dropping a partial character at the end leaves U+FFFD; remove it.
  return buffer.toString('utf8').replace(/\uFFFD$/, '');
}
