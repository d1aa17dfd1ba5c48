import type { Clock } from '../core/clock.js';
import { invalidOptions } from '../core/errors.js';
import { ChunkAssembler } from '../sources/chunks.js';
import type { Envelope, Source, SourceChunk, SourceReader } from '../sources/types.js';

/** One scripted record: a value that arrives at time `at` (ms on the pipeline clock). */
export interface ScriptedRecord<T> extends Envelope<T> {
  at: number;
}

/** A scripted source, with what it observed. */
export interface ScriptedSource<T> extends Source<T> {
  /** Every commit the pipeline made, in order. */
  readonly commits: { partition: string; offset: number }[];
  /** Records handed to the pipeline so far. */
  readonly delivered: number;
}

/**
 * A source that delivers records at given times on `clock`, for deterministic tests of timing:
 * `scriptedSource(clock, [{ at: 0, value: 'a' }, { at: 1500, value: 'b', partition: 'p1' }])`.
 * Records due at the same time arrive together. It ends after the last record unless `endless`.
 * With `replayable`, it can be opened again and then resumes like a real replayable source: after
 * the offset the pipeline's checkpoint committed per partition (`SourceContext.resumeAfter`), with
 * records already due delivered at once — which makes crash-and-restart tests straightforward.
 */
export function scriptedSource<T>(
  clock: Clock,
  script: readonly ScriptedRecord<T>[],
  options: { endless?: boolean; replayable?: boolean } = {},
): ScriptedSource<T> {
  const sorted = [...script].sort((a, b) => a.at - b.at);
  sorted.forEach((r, i) => {
    if (!Number.isFinite(r.at)) throw invalidOptions(`scriptedSource: record ${i} has no finite 'at' time`);
  });
  // Each record's partition and offset, as the assembler will assign them, to resume by offset.
  const next = new Map<string, number>();
  const positions = sorted.map((r) => {
    const partition = r.partition === undefined ? '0' : String(r.partition);
    const offset = r.offset ?? next.get(partition) ?? 0;
    next.set(partition, offset + 1);
    return { partition, offset };
  });
  const commits: { partition: string; offset: number }[] = [];
  let delivered = 0;
  return {
    kind: 'scripted',
    replayable: options.replayable ?? false,
    get commits() {
      return commits;
    },
    get delivered() {
      return delivered;
    },
    async open({ signal, resumeAfter }): Promise<SourceReader<T>> {
      const assembler = new ChunkAssembler<T>('0', 'scriptedSource');
      const skip = new Map<string, number | undefined>();
      if (options.replayable && resumeAfter !== undefined) {
        for (const { partition } of positions) {
          if (!skip.has(partition)) skip.set(partition, await resumeAfter(partition));
        }
      }
      let next = 0;
      let stopped = false;
      let wake: (() => void) | undefined;
      let timer: unknown;
      return {
        async read(): Promise<SourceChunk<T> | null> {
          for (;;) {
            const ready = assembler.take();
            if (ready !== null) return ready;
            if (stopped || signal.aborted) return null;
            if (next >= sorted.length) {
              if (!options.endless) return null;
              await new Promise<void>((resolve) => (wake = resolve));
              continue;
            }
            const due = sorted[next]!.at;
            if (due > clock.now()) {
              await new Promise<void>((resolve) => {
                wake = resolve;
                timer = clock.setTimeout(resolve, due - clock.now());
              });
              timer = undefined;
              continue;
            }
            while (next < sorted.length && sorted[next]!.at <= clock.now()) {
              const { partition, offset } = positions[next]!;
              const { at: _at, ...envelope } = sorted[next++]!;
              const after = skip.get(partition);
              if (after !== undefined && offset <= after) continue;
              assembler.addEnvelope({ ...envelope, partition, offset });
              delivered++;
            }
          }
        },
        commit(cursor) {
          commits.push({ partition: cursor.partition, offset: cursor.offset });
        },
        stop() {
          stopped = true;
          if (timer !== undefined) clock.clearTimeout(timer);
          wake?.();
        },
        close() {
          stopped = true;
          if (timer !== undefined) clock.clearTimeout(timer);
          wake?.();
        },
      };
    },
  };
}
