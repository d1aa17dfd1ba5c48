import type { PartitionCheckpoint } from '../checkpoint/types.js';
import type { SourceReader } from '../sources/types.js';

/**
 * The `source` field of a partition's checkpoint state: the marks the reader gives with the
 * committed offset (`SourceReader.marks`), or nothing. A reader whose `marks()` throws is treated
 * as giving none: marks help a later run recognise its input, they must never fail a commit.
 */
export function sourceMarks(
  reader: SourceReader<unknown> | undefined,
  partition: string,
  committed: number | undefined,
): Pick<PartitionCheckpoint, 'source'> {
  if (committed === undefined || reader?.marks === undefined) return {};
  try {
    const marks = reader.marks({ partition, offset: committed });
    return marks === undefined ? {} : { source: marks };
  } catch {
    return {};
  }
}
