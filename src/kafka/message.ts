import { isUtf8 } from 'node:buffer';
import type { KafkaMessage } from './options.js';
import type { KafkaHeaders } from './types.js';

// How the Kafka source reads one message: its value, its headers, and the view a user's `decode`
// and `eventTime` see.

const decoder = new TextDecoder('utf-8', { fatal: false });

/** The default decode: JSON of the UTF-8 value; a tombstone is `null`. Invalid UTF-8 throws. */
export function decodeJson(value: Buffer | null): unknown {
  if (value === null || value === undefined) return null;
  const text = decoder.decode(value);
  // Decoding replaced invalid bytes with U+FFFD; only then is the line checked byte by byte.
  if (text.includes('\uFFFD') && !isUtf8(value)) throw new Error('the value is not valid UTF-8');
  return JSON.parse(text);
}

/** The message as `decode` and `eventTime` see it. */
export function viewOf(
  topic: string,
  partition: number,
  offset: number,
  timestamp: number,
  message: { key: Buffer | null; value: Buffer | null; headers?: KafkaHeaders },
): KafkaMessage {
  return {
    topic,
    partition,
    offset,
    key: message.key,
    value: message.value,
    timestamp,
    headers: message.headers,
  };
}

/** Headers as UTF-8 strings; a header sent several times keeps its last value. */
export function headersOf(headers: KafkaHeaders | undefined): Record<string, string> | undefined {
  if (headers === undefined) return undefined;
  let out: Record<string, string> | undefined;
  // for…in rather than Object.keys: no array per message for the usual empty headers.
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    let value = headers[name];
    if (Array.isArray(value)) value = value[value.length - 1];
    if (value === undefined) continue;
    (out ??= {})[name] = typeof value === 'string' ? value : value.toString('utf8');
  }
  return out;
}
