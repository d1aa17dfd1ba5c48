/**
 * What the kafkaSource integration tests share besides K1's helpers: a sink that several
 * pipelines (workers) can share and that counts every record's delivery, and a way to wait until a
 * consumer group has committed a topic to its end.
 */
import { createHash } from 'node:crypto';
import type { Admin } from 'kafkajs';
import type { Batch } from '../../../src/core/batch.js';
import type { Sink } from '../../../src/sinks/types.js';

/** A record as the tests produce them: partition and index within the partition. */
export interface Row {
  p: number;
  n: number;
}

/** What {@link countingSink} holds. */
export interface CountingSink extends Sink<Row> {
  /** Deliveries of each record, per partition, indexed by offset (0 = never, 2+ = duplicate). */
  readonly counts: Uint8Array[];
  /** Batches written (distinct ids). */
  readonly batches: number;
  /** Writes of a batch id already held (no effect: one effect per id). */
  readonly repeatedWrites: number;
  /**
   * Writes of a batch id already held that the contract does not allow: a rewrite must carry exactly
   * the records of the first write (same range, offsets and values), and only a replay of a planned
   * batch (`reason: 'replay'`, by a partition's next owner or after a crash) may repeat an id, so
   * at most one write of an id is not a replay.
   */
  readonly badRewrites: string[];
  /** Records whose value did not match their place (partition/offset), or out of order in a batch. */
  readonly misplaced: string[];
}

/**
 * An idempotent sink shared by every worker: one effect per batch id, like a file or object store
 * named after the id. Each record of a batch is checked against its cursor (the value carries its
 * partition and index, which is its offset on a fresh topic) and counted, so a test sees loss
 * (count 0) and duplicates (count ≥ 2) by record.
 */
export function countingSink(topic: string, sizes: number[]): CountingSink {
  const counts = sizes.map((n) => new Uint8Array(n));
  // Per batch id: a digest of its range and records, and whether a write that is not a replay was seen.
  const written = new Map<string, { digest: string; original: boolean }>();
  const misplaced: string[] = [];
  const badRewrites: string[] = [];
  let batches = 0;
  let repeatedWrites = 0;
  return {
    kind: 'counting',
    counts,
    misplaced,
    get batches() {
      return batches;
    },
    get repeatedWrites() {
      return repeatedWrites;
    },
    badRewrites,
    write(batch: Batch<Row>) {
      const digest = digestOf(batch);
      const original = batch.reason !== 'replay';
      const first = written.get(batch.id);
      if (first !== undefined) {
        repeatedWrites++;
        if (first.digest !== digest && badRewrites.length < 20)
          badRewrites.push(`${batch.id} rewritten with other records (${batch.reason})`);
        if (first.original && original && badRewrites.length < 20)
          badRewrites.push(`${batch.id} written twice without a replay (${batch.reason})`);
        first.original ||= original;
        return;
      }
      written.set(batch.id, { digest, original });
      batches++;
      const partition = Number(batch.partition.slice(topic.length + 1));
      let previous = -1;
      for (let i = 0; i < batch.records.length; i++) {
        const offset = batch.offsets === undefined ? batch.firstOffset + i : batch.offsets[i]!;
        const row = batch.records[i]!;
        if (row.p !== partition || row.n !== offset || offset <= previous) {
          if (misplaced.length < 20)
            misplaced.push(`${batch.id}[${i}] = ${JSON.stringify(row)} at ${offset}`);
        }
        previous = offset;
        const held = counts[partition]!;
        if (held[offset]! < 255) held[offset]!++;
      }
    },
  };
}

/** A digest of what a batch carries: its range, and each record's offset and value. */
function digestOf(batch: Batch<Row>): string {
  const hash = createHash('sha1').update(`${batch.partition}:${batch.firstOffset}-${batch.lastOffset};`);
  for (let i = 0; i < batch.records.length; i++) {
    const offset = batch.offsets === undefined ? batch.firstOffset + i : batch.offsets[i]!;
    hash.update(`${offset}=${JSON.stringify(batch.records[i])};`);
  }
  return hash.digest('hex');
}

/** Records never delivered and records delivered more than once. */
export function tally(sink: CountingSink): { missing: number; duplicated: number; firstMissing: string[] } {
  let missing = 0;
  let duplicated = 0;
  const firstMissing: string[] = [];
  sink.counts.forEach((counts, p) => {
    for (let o = 0; o < counts.length; o++) {
      if (counts[o] === 0) {
        missing++;
        if (firstMissing.length < 5) firstMissing.push(`${p}@${o}`);
      } else if (counts[o]! > 1) duplicated++;
    }
  });
  return { missing, duplicated, firstMissing };
}

/** Whether `groupId` has committed every partition of `topic` up to `ends`. */
export async function committedToEnd(
  admin: Admin,
  groupId: string,
  topic: string,
  ends: number[],
): Promise<boolean> {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return (
    (offsets?.partitions ?? []).every((p) => Number(p.offset) >= ends[p.partition]!) &&
    (offsets?.partitions.length ?? 0) === ends.length
  );
}
