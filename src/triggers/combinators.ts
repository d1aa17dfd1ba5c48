import type { FlushReason } from '../core/batch.js';
import { invalidOptions } from '../core/errors.js';
import { isTrigger, type Trigger } from './types.js';

function checkChildren(name: string, children: Trigger[]): void {
  if (children.length === 0) throw invalidOptions(`triggers.${name}() needs at least one trigger`);
  children.forEach((child, i) => {
    if (!isTrigger(child))
      throw invalidOptions(`triggers.${name}(): argument ${i + 1} is not a trigger`, { index: i });
    if (child.mode === 'adaptive') {
      throw invalidOptions(
        `triggers.${name}(): argument ${i + 1} is an adaptive trigger, which must be used on its own (the runtime feeds its controller); give its caps as maxRecords and maxBytes instead`,
        { index: i },
      );
    }
  });
}

/** A child's description, in parentheses when it is itself a combination, so precedence reads right. */
const describe = (child: Trigger) =>
  child.mode === 'any' || child.mode === 'all' ? `(${child.description})` : child.description;

/** Flushes when **any** child would: `any(time('60s'), volume({ records: 10_000 }))`. Caps combine to the tightest. */
export function any(...children: Trigger[]): Trigger {
  checkChildren('any', children);
  return {
    description: children.map(describe).join(' OR '),
    mode: 'any',
    usesBytes: children.some((c) => c.usesBytes),
    caps: {
      records: Math.min(...children.map((c) => c.caps.records)),
      bytes: Math.min(...children.map((c) => c.caps.bytes)),
    },
    check(lane, now) {
      for (const child of children) {
        const reason = child.check(lane, now);
        if (reason !== undefined) return reason;
      }
      return undefined;
    },
    deadline: (lane) => Math.min(...children.map((c) => c.deadline(lane))),
    headroom: (lane) => Math.min(...children.map((c) => c.headroom(lane))),
  };
}

/**
 * Flushes when **every** child would: `all(time('1m'), volume({ records: 100 }))` waits for a minute
 * *and* 100 records. Children's volumes are thresholds here, not caps; the memory budget still bounds
 * the lane. The reason reported is the first child's.
 */
export function all(...children: Trigger[]): Trigger {
  checkChildren('all', children);
  return {
    description: children.map(describe).join(' AND '),
    mode: 'all',
    usesBytes: children.some((c) => c.usesBytes),
    caps: { records: Number.POSITIVE_INFINITY, bytes: Number.POSITIVE_INFINITY },
    check(lane, now) {
      let first: FlushReason | undefined;
      for (const child of children) {
        const reason = child.check(lane, now);
        if (reason === undefined) return undefined;
        first ??= reason;
      }
      return first;
    },
    // Until every time condition holds, the latest one is when `check` may first pass by time.
    deadline: (lane) => {
      const finite = children.map((c) => c.deadline(lane)).filter(Number.isFinite);
      return finite.length === 0 ? Number.POSITIVE_INFINITY : Math.max(...finite);
    },
    headroom: (lane) => Math.min(...children.map((c) => c.headroom(lane))),
  };
}
