/**
 * Lane names of Kafka partitions: `<topic>-<partition>`, as Kafka names a partition's log
 * directory (`prices-0`). Topic names hold only `[A-Za-z0-9._-]`, and the partition is the digits
 * after the last `-`, so the name reads back unambiguously. In batch ids it goes through
 * `safeName`, which keeps `-` and escapes `.` as `~2e`: `pipeline.raw_prices-3.0000…-0000…`.
 */
export function kafkaPartition(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

/** The topic and partition number of a lane name made by {@link kafkaPartition}; `undefined` otherwise. */
export function parseKafkaPartition(name: string): { topic: string; partition: number } | undefined {
  const match = /^([A-Za-z0-9._-]+)-(\d+)$/.exec(name);
  if (match === null) return undefined;
  const partition = Number(match[2]);
  return Number.isSafeInteger(partition) ? { topic: match[1]!, partition } : undefined;
}
