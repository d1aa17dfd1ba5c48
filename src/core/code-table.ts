/**
 * A table keyed by error code (a SQLSTATE, a driver code, an errno name), without a prototype: a
 * code read from a foreign error, such as `'constructor'` or `'toString'`, is never found in it.
 */
export function codeTable(entries: Record<string, string>): Readonly<Record<string, string | undefined>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, string>, entries));
}
