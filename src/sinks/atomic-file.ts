/**
 * The file sinks' atomic writes, now one copy in `core/durable-fs.ts` (shared with the file
 * checkpoint and lake compaction). Kept under this path for the modules that import it.
 */
export { type AtomicFiles, atomicFiles, syncDirectory } from '../core/durable-fs.js';
