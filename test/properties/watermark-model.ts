import type { ScriptedRecord } from '../../src/testing/index.js';

export type Verdict = 'ok' | 'late' | 'invalid';

/**
 * The watermark model, written from the definition (not from the implementation), record by record
 * in arrival order: which records are late, which have no usable event time.
 */
export function lateness<T>(
  records: ScriptedRecord<T>[],
  eventTime: (value: T) => unknown,
  c: { maxOutOfOrderness: number; allowedLateness: number; idleTimeout: number },
): Verdict[] {
  // scriptedSource hands over the records due at one time as one chunk per partition, partitions in
  // order of first appearance: that is the arrival order the pipeline sees.
  const order: number[] = [];
  for (let k = 0; k < records.length; ) {
    let end = k;
    while (end < records.length && records[end]!.at === records[k]!.at) end++;
    const partitions: string[] = [];
    for (let j = k; j < end; j++)
      if (!partitions.includes(String(records[j]!.partition))) partitions.push(String(records[j]!.partition));
    for (const p of partitions)
      for (let j = k; j < end; j++) if (String(records[j]!.partition) === p) order.push(j);
    k = end;
  }
  const lanes = new Map<string, { max: number; last: number }>();
  let watermark = Number.NEGATIVE_INFINITY;
  const recompute = (now: number) => {
    let min = Number.POSITIVE_INFINITY;
    for (const lane of lanes.values()) {
      if (lane.max === Number.NEGATIVE_INFINITY || now - lane.last >= c.idleTimeout) continue;
      min = Math.min(min, lane.max - c.maxOutOfOrderness);
    }
    if (min !== Number.POSITIVE_INFINITY && min > watermark) watermark = min;
  };
  const verdicts: Verdict[] = new Array(records.length);
  for (const j of order) {
    const r = records[j]!;
    const now = r.at;
    recompute(now); // time moved: lanes may be idle now
    let lane = lanes.get(String(r.partition));
    if (lane === undefined)
      lanes.set(String(r.partition), (lane = { max: Number.NEGATIVE_INFINITY, last: now }));
    lane.last = now;
    const t = eventTime(r.value);
    if (typeof t !== 'number' || !Number.isFinite(t)) verdicts[j] = 'invalid';
    else if (t < watermark - c.allowedLateness) verdicts[j] = 'late';
    else {
      verdicts[j] = 'ok';
      lane.max = Math.max(lane.max, t);
    }
    recompute(now); // after every arrival: a lane back from idle counts again at once
  }
  return verdicts;
}
