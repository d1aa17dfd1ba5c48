/**
 * Estimates the JSON-encoded size of a value in bytes, without encoding it.
 *
 * Strings count one byte per UTF-16 code unit (exact for ASCII, low for other scripts), numbers
 * count their typical width. The walk stops as soon as the running total passes `limit`, so a huge
 * or cyclic record costs at most `limit` bytes of work and is reported as larger than the limit.
 * Sources that know the real encoded size (a JSON line, a Kafka message) pass it instead.
 */
export function estimateBytes(value: unknown, limit = Number.POSITIVE_INFINITY): number {
  return walk(value, 0, limit, 0);
}

/**
 * Past this many nested containers the walk goes on with an explicit stack ({@link walkDeep}):
 * a record nested thousands of levels deep (a JSON line of 100,000 `[`) must not overflow the call
 * stack. Records this deep are rare, so the common path stays one recursive call per container.
 */
const MAX_RECURSION = 200;

function walk(value: unknown, total: number, limit: number, depth: number): number {
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
      if (depth >= MAX_RECURSION) return walkDeep(value, total, limit);
      total += 2;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length && total <= limit; i++)
          total = walk(value[i], total + 1, limit, depth + 1);
        return total;
      }
      for (const key in value) {
        if (total > limit) break;
        const field = (value as Record<string, unknown>)[key];
        total += key.length + 4;
        // Flat fields inline: a recursive call per field would cost more than the field itself.
        if (typeof field === 'string') total += field.length + 2;
        else if (typeof field === 'number') total += 8;
        else total = walk(field, total, limit, depth + 1);
      }
      return total;
    }
    default:
      // undefined, functions and symbols are not encoded.
      return total;
  }
}

/** A container being walked by {@link walkDeep}: its children are `keys` (objects) or indices. */
interface Frame {
  container: Record<string, unknown> | unknown[];
  keys: string[] | undefined;
  next: number;
}

/**
 * The same count as {@link walk}, with a heap-allocated stack instead of the call stack. A cycle
 * (which only a walk without a limit can follow this far) is reported as infinitely large instead
 * of looping forever.
 */
function walkDeep(root: object, total: number, limit: number): number {
  const stack: Frame[] = [];
  const path = new Set<object>();
  let value: unknown = root;
  for (;;) {
    if (
      typeof value === 'object' &&
      value !== null &&
      !(value instanceof Date) &&
      !ArrayBuffer.isView(value)
    ) {
      if (path.has(value)) return Number.POSITIVE_INFINITY;
      path.add(value);
      total += 2;
      if (Array.isArray(value)) stack.push({ container: value, keys: undefined, next: 0 });
      else {
        const keys: string[] = [];
        for (const key in value) keys.push(key);
        stack.push({ container: value as Record<string, unknown>, keys, next: 0 });
      }
    } else {
      total = walk(value, total, limit, 0);
    }
    // Move to the next child of the innermost unfinished container.
    for (;;) {
      if (total > limit) return total;
      const top = stack[stack.length - 1];
      if (top === undefined) return total;
      if (top.keys === undefined) {
        const array = top.container as unknown[];
        if (top.next < array.length) {
          total += 1;
          value = array[top.next++];
          break;
        }
      } else if (top.next < top.keys.length) {
        const key = top.keys[top.next++]!;
        total += key.length + 4;
        value = (top.container as Record<string, unknown>)[key];
        break;
      }
      path.delete(top.container);
      stack.pop();
    }
  }
}

/** The exact UTF-8 length of a string. */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
