/** What `redact`'s `detect` finds inside free text. */
export type Detector = 'email' | 'phone';

/** The detectors there are, for option checks and messages. */
export const DETECTORS: readonly Detector[] = ['email', 'phone'];

/** Matches as flat pairs: `text.slice(spans[2k], spans[2k + 1])` (no object per match). */
type Spans = number[];

// Both scanners are hand-written, linear in the text's length: a regular expression such as
// /[\w.+-]+@[\w-]+\.[\w.]+/ backtracks quadratically on a long run of word characters with no '@',
// and a 10 MB field must not stall the pipeline. The spans are bounded as RFC 5321 bounds them.
const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;

const isAlpha = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isDigit = (c: number) => c >= 48 && c <= 57;
const isAlnum = (c: number) => isAlpha(c) || isDigit(c);
// Local part: letters, digits and . _ % + - (the characters seen in practice; quoted forms are not).
const isLocal = (c: number) => isAlnum(c) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45;
// Domain: letters, digits, dots and hyphens (ASCII; an internationalised domain in Unicode is not found).
const isDomain = (c: number) => isAlnum(c) || c === 46 || c === 45;

/** E-mail addresses in `text`: `local@domain.tld`, the TLD two letters or more. */
function emails(text: string, out: Spans): void {
  let at = text.indexOf('@');
  while (at !== -1) {
    let start = at;
    while (start > 0 && at - start < MAX_LOCAL && isLocal(text.charCodeAt(start - 1))) start--;
    let end = at + 1;
    while (end < text.length && end - at <= MAX_DOMAIN && isDomain(text.charCodeAt(end))) end++;
    // A sentence may end right after the address: "write to a@b.com."
    while (end > at + 1 && (text.charCodeAt(end - 1) === 46 || text.charCodeAt(end - 1) === 45)) end--;
    if (start < at && validDomain(text, at + 1, end)) {
      out.push(start, end);
      at = text.indexOf('@', end);
    } else {
      at = text.indexOf('@', at + 1);
    }
  }
}

/** At least one dot, no empty label, and a last label of two letters or more. */
function validDomain(text: string, start: number, end: number): boolean {
  const dot = text.lastIndexOf('.', end - 1);
  if (dot <= start || end - dot - 1 < 2) return false;
  for (let i = dot + 1; i < end; i++) if (!isAlpha(text.charCodeAt(i))) return false;
  for (let i = start; i < end; i++) {
    if (text.charCodeAt(i) === 46 && (i === start || text.charCodeAt(i - 1) === 46)) return false;
  }
  return true;
}

const MIN_PHONE_DIGITS = 7;
const MAX_PHONE_DIGITS = 15; // E.164
const isPhoneSeparator = (c: number) => c === 32 || c === 45 || c === 46 || c === 40 || c === 41;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Phone numbers in `text`: 7 to 15 digits (E.164 allows 15), optionally after a `+`, in groups
 * separated by spaces, dashes, dots or parentheses (at most two in a row), not glued to a letter or
 * digit on either side. ISO dates (`2025-01-31`) are not phone numbers. A heuristic that prefers
 * redacting too much: a long order number written with dashes is taken for a phone number.
 */
function phones(text: string, out: Spans): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    const startsHere =
      (isDigit(c) || ((c === 43 || c === 40) && i + 1 < n && isDigit(text.charCodeAt(i + 1)))) &&
      (i === 0 || !isAlnum(text.charCodeAt(i - 1)));
    if (!startsHere) {
      i++;
      continue;
    }
    let j = i;
    let digits = 0;
    let lastDigit = -1;
    let separators = 0;
    for (; j < n; j++) {
      const d = text.charCodeAt(j);
      if (isDigit(d)) {
        digits++;
        lastDigit = j;
        separators = 0;
      } else if ((d === 43 && j === i) || (isPhoneSeparator(d) && ++separators <= 2)) {
        // a leading '+', or a separator between groups
      } else break;
    }
    const end = lastDigit + 1;
    const glued = end < n && isAlnum(text.charCodeAt(end));
    if (
      !glued &&
      digits >= MIN_PHONE_DIGITS &&
      digits <= MAX_PHONE_DIGITS &&
      !ISO_DATE.test(text.slice(i, end))
    ) {
      out.push(i, end);
    }
    i = Math.max(j, i + 1);
  }
}

/**
 * `text` with every match of `detectors` replaced by `replace(match)`, or `text` itself (the same
 * string) when nothing matched. Overlapping matches (a number inside an address) are merged and
 * replaced as one, so no part of either is left.
 */
export function replaceDetected(
  text: string,
  detectors: { email: boolean; phone: boolean },
  replace: (match: string) => string,
): string {
  const spans: Spans = [];
  if (detectors.email) emails(text, spans);
  const found = spans.length;
  if (detectors.phone) phones(text, spans);
  if (spans.length === 0) return text;
  let order: number[] | undefined;
  if (found > 0 && spans.length > found) {
    order = Array.from({ length: spans.length / 2 }, (_, k) => k).sort(
      (a, b) => spans[2 * a]! - spans[2 * b]!,
    );
  }
  const count = spans.length / 2;
  const at = (k: number) => 2 * (order === undefined ? k : order[k]!);
  let out = '';
  let from = 0;
  let k = 0;
  while (k < count) {
    const start = spans[at(k)]!;
    let end = spans[at(k) + 1]!;
    while (++k < count && spans[at(k)]! < end) end = Math.max(end, spans[at(k) + 1]!);
    out += text.slice(from, start) + replace(text.slice(start, end));
    from = end;
  }
  return out + text.slice(from);
}
