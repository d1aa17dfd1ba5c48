/** Bin packing for compaction: which small files go into which output file. */

/** A file considered for compaction. */
export interface SizedFile {
  name: string;
  /** Size on disk, in bytes. */
  size: number;
}

/**
 * First-fit decreasing: files from the largest to the smallest (ties by name), each into the first
 * bin it still fits in (`total + size ≤ capacity`), else into a new bin. Every bin's total is at most
 * `capacity` as long as every file is (compaction only packs files smaller than the target); a file
 * larger than `capacity` gets a bin of its own. Within a bin, files are sorted by name: the output
 * keeps their rows in name order. Deterministic: the same files always give the same bins.
 */
export function packBins<F extends SizedFile>(files: readonly F[], capacity: number): F[][] {
  const sorted = [...files].sort((a, b) => b.size - a.size || byName(a, b));
  const bins: { total: number; files: F[] }[] = [];
  for (const file of sorted) {
    const bin = bins.find((candidate) => candidate.total + file.size <= capacity);
    if (bin === undefined) bins.push({ total: file.size, files: [file] });
    else {
      bin.total += file.size;
      bin.files.push(file);
    }
  }
  return bins.map((bin) => bin.files.sort(byName));
}

function byName(a: SizedFile, b: SizedFile): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
