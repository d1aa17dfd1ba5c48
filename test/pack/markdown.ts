/**
 * Just enough Markdown to check links: link targets and headings outside code, and the anchor
 * GitHub (and npm's README view) derives from a heading.
 */

/** Lines outside fenced code blocks; `blankCode`: with inline code spans blanked out. */
function proseLines(text: string, blankCode: boolean): string[] {
  const lines: string[] = [];
  let fence: string | undefined;
  for (const line of text.split('\n')) {
    const marker = /^\s*(```+|~~~+)/.exec(line)?.[1];
    if (marker !== undefined) {
      if (fence === undefined) fence = marker[0];
      else if (marker[0] === fence) fence = undefined;
      continue;
    }
    if (fence === undefined) lines.push(blankCode ? line.replace(/`[^`]*`/g, '``') : line);
  }
  return lines;
}

export const markdownLinks = {
  /** `[text](target)`, `![alt](target)` and `[label]: target` targets, in order. */
  targets(text: string): string[] {
    const out: string[] = [];
    for (const line of proseLines(text, true)) {
      for (const match of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push(match[1]!);
      const definition = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$/.exec(line);
      if (definition !== null) out.push(definition[1]!);
    }
    return out;
  },

  /** Heading texts (ATX `#` headings) and explicit `<a id|name="…">` anchors, in order. */
  headings(text: string): string[] {
    const out: string[] = [];
    const anchors: string[] = [];
    for (const line of proseLines(text, false)) {
      const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
      if (heading !== null) out.push(heading[1]!);
      for (const match of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.push(`\u0000${match[1]}`);
    }
    return [...out, ...anchors];
  },
};

const seen = new WeakMap<object, Map<string, number>>();

/**
 * GitHub's heading anchor: lower case, markup and punctuation dropped, spaces to hyphens. An
 * explicit anchor (prefixed with NUL by `headings`) is taken as it is. Repeated headings of one
 * file get `-1`, `-2`… only when slugged as one array (`headings.map(githubSlug)`).
 */
export function githubSlug(heading: string, _index?: number, all?: readonly string[]): string {
  if (heading.startsWith('\u0000')) return heading.slice(1);
  const base = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links keep their text
    .replace(/<[^>]+>/g, '')
    .replace(/[*`~]/g, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .trim()
    .replace(/\s/g, '-');
  if (all === undefined) return base;
  let counts = seen.get(all);
  if (counts === undefined) seen.set(all, (counts = new Map()));
  const n = counts.get(base) ?? 0;
  counts.set(base, n + 1);
  return n === 0 ? base : `${base}-${n}`;
}
