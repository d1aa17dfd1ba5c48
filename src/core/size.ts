/**
 * Estimates the JSON-encoded size of a value in bytes, without encoding it.
 *
 * Strings count one byte per UTF-16 code unit (exact for ASCII, low for other scripts), numbers
 * count their typical width. The walk stops as soon as the running total passes `limit`, so a huge
 * or cyclic record costs at most `limit` bytes of work and is reported as larger than the limit.
 * Sources that know the real encoded size (a JSON line, a Kafka message) pass it instead.
 */
export function estimateBytes(value: unknown, limit = Number.POSITIVE_INFINITY): number {
  return walk(value, 0, limit);
}

function walk(value: unknown, total: number, limit: number): number {
  switch (typeof value) {
    case 'string':
      return total + value.length + 2;
    case 'number':
      return total + 8;
    case 'boolean':
      return total + 5;
    case 'bigint':
      return total + 20;
    case 'object': {
      if (value === null) return total + 4;
      if (value instanceof Date) return total + 26;
      if (ArrayBuffer.isView(value)) return total + (value as ArrayBufferView).byteLength;
      total += 2;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length && total <= limit; i++) total = walk(value[i], total + 1, limit);
        return total;
      }
      for (const key in value) {
        if (total > limit) break;
        const field = (value as Record<string, unknown>)[key];
        total += key.length + 4;
        // Flat fields inline: a recursive call per field would cost more than the field itself.
        if (typeof field === 'string') total += field.length + 2;
        else if (typeof field === 'number') total += 8;
        else total = walk(field, total, limit);
      }
      return total;
    }
    default:
      // undefined, functions and symbols are not encoded.
      return total;
  }
}

/** The exact UTF-8 length of a string. */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
