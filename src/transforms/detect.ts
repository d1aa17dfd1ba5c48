/** What `redact`'s `detect` finds inside free text. */
export type Detector = 'email' | 'phone';

/** The detectors there are, for option checks and messages. */
export const DETECTORS: readonly Detector[] = ['email', 'phone'];

/**
 * Matches as flat pairs, `text.slice(pairs[2k], pairs[2k + 1])`: no object per match, and the
 * buffer is reused from one text to the next (see {@link replaceDetected}), so that a field costs
 * no allocation until something is found in it.
 */
class Spans {
  pairs = new Int32Array(16);
  length = 0;

  push(start: number, end: number): void {
    if (this.length + 2 > this.pairs.length) {
      const bigger = new Int32Array(this.pairs.length * 2);
      bigger.set(this.pairs);
      this.pairs = bigger;
    }
    this.pairs[this.length++] = start;
    this.pairs[this.length++] = end;
  }

  /** Sorts the pairs by start (e-mail and phone matches are found in two passes). */
  sort(): void {
    const starts: [number, number][] = [];
    for (let k = 0; k < this.length; k += 2) starts.push([this.pairs[k]!, this.pairs[k + 1]!]);
    starts.sort((a, b) => a[0] - b[0]);
    for (let k = 0; k < starts.length; k++) {
      this.pairs[2 * k] = starts[k]![0];
      this.pairs[2 * k + 1] = starts[k]![1];
    }
  }
}

/** Buffers bigger than this (a text with hundreds of matches) are not kept for the next text. */
const KEPT_SPANS = 1_024;
/** The buffer the next call uses; taken while a call runs, so that no two calls share one. */
let spare: Spans | undefined = new Spans();

// Both scanners are hand-written, linear in the text's length: a regular expression such as
// /[\w.+-]+@[\w-]+\.[\w.]+/ backtracks quadratically on a long run of word characters with no '@',
// and a 10 MB field must not stall the pipeline. The spans are bounded as RFC 5321 bounds them.
const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;

const isAlpha = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isDigit = (c: number) => c >= 48 && c <= 57;
const isAlnum = (c: number) => isAlpha(c) || isDigit(c);

/**
 * A letter, digit or combining mark outside ASCII (`ö`, `ü`, `用`, `ß`): RFC 6531 allows them in the
 * local part, IDNA in the domain. One code unit at a time; surrogate pairs (emoji, rare scripts) are
 * not letters here, which keeps the backward scan simple and only costs the rarest addresses.
 */
const WORD = /[\p{L}\p{N}\p{M}]/u;
/** The answer per BMP code unit, filled on first use (0 unknown, 1 a letter, 2 not): one lookup after that. */
const WIDE = new Uint8Array(0x10000);
const isWide = (c: number) => {
  if (c < 0x80 || (c >= 0xd800 && c <= 0xdfff)) return false;
  let known = WIDE[c]!;
  if (known === 0) WIDE[c] = known = WORD.test(String.fromCharCode(c)) ? 1 : 2;
  return known === 1;
};

// RFC 5322 atext: letters, digits and ! # $ % & ' * + - / = ? ^ _ ` { | } ~, plus the dots between
// atoms (quoted local parts are not found). Non-ASCII letters as RFC 6531 allows.
const ATEXT = new Uint8Array(128);
for (const ch of "!#$%&'*+-/=?^_`{|}~.") ATEXT[ch.charCodeAt(0)] = 1;
const isLocal = (c: number) => (c < 128 ? isAlnum(c) || ATEXT[c] === 1 : isWide(c));
// Domain: letters, digits, dots and hyphens, and non-ASCII letters (an internationalised domain
// written in Unicode, `münchen.de`; its punycode form `xn--mnchen-3ya.de` is ASCII anyway).
const isDomain = (c: number) => (c < 128 ? isAlnum(c) || c === 46 || c === 45 : isWide(c));
const isTldChar = (c: number) => (c < 128 ? isAlpha(c) : isWide(c));

/**
 * E-mail addresses in `text`: `local@domain.tld`, the TLD two letters or more (or a punycode
 * `xn--` label); the domain has at least one dot and no empty label. The domain is checked as it is
 * scanned (one pass, no `lastIndexOf`): ≈25% less time per field than checking it in a second pass.
 */
function emails(text: string, out: Spans): void {
  const length = text.length;
  let at = text.indexOf('@');
  while (at !== -1) {
    let start = at;
    while (start > 0 && at - start < MAX_LOCAL && isLocal(text.charCodeAt(start - 1))) start--;
    // A local part does not start with a dot ("see:.ann@x.io" → "ann@x.io").
    while (start < at && text.charCodeAt(start) === 46) start++;
    let end = at + 1;
    // The first dot that starts the domain or follows another dot: an empty label.
    let emptyLabel = -1;
    for (; end < length && end - at <= MAX_DOMAIN; end++) {
      const c = text.charCodeAt(end);
      if (c === 46) {
        if (emptyLabel === -1 && (end === at + 1 || text.charCodeAt(end - 1) === 46)) emptyLabel = end;
      } else if (!isDomain(c)) break;
    }
    // A sentence may end right after the address: "write to a@b.com."
    while (end > at + 1 && (text.charCodeAt(end - 1) === 46 || text.charCodeAt(end - 1) === 45)) end--;
    // The TLD: letters back from the end, which must stop at a dot that is not the domain's first character.
    let dot = end - 1;
    while (dot > at && isTldChar(text.charCodeAt(dot))) dot--;
    let tldOk = dot > at + 1 && text.charCodeAt(dot) === 46 && end - dot > 2;
    if (!tldOk) {
      // A punycode TLD (`xn--p1ai`): from the last dot.
      dot = end - 1;
      while (dot > at && text.charCodeAt(dot) !== 46) dot--;
      tldOk = dot > at + 1 && end - dot > 5 && /^xn--[a-z0-9-]+$/i.test(text.slice(dot + 1, end));
    }
    if (start < at && (emptyLabel === -1 || emptyLabel >= end) && tldOk) {
      out.push(start, end);
      at = text.indexOf('@', end);
    } else {
      at = text.indexOf('@', at + 1);
    }
  }
}

const MIN_PHONE_DIGITS = 7;
const MAX_PHONE_DIGITS = 15; // E.164
/** Spaces between digit groups: ASCII, no-break (French typography), narrow no-break, thin, figure… */
const isSpace = (c: number) =>
  c === 32 || c === 0xa0 || c === 0x202f || (c >= 0x2000 && c <= 0x200a) || c === 0x3000;
/** Dashes: ASCII hyphen-minus, Unicode hyphens and dashes (‐ ‑ ‒ – — ―), minus sign, fullwidth. */
const isDash = (c: number) => c === 45 || (c >= 0x2010 && c <= 0x2015) || c === 0x2212 || c === 0xff0d;
/** Between digit groups: spaces, dashes, dots, slashes (`0171/1234567`) and parentheses. */
const isPhoneSeparator = (c: number) =>
  isSpace(c) || isDash(c) || c === 46 || c === 40 || c === 41 || c === 47;
/** Separators in a row: `123 - 4567` has three. */
const MAX_SEPARATORS = 3;
/** A price's currency sign right before the number. */
const isCurrency = (c: number) => c === 36 || c === 0x20ac || c === 0xa3 || c === 0xa5 || c === 0x20b9;
/** Characters that tie a number to a word before it: `ORD-2024-000123`, `INV/2025/0042`, `#1234567`. */
const isJoiner = (c: number) => c === 45 || c === 95 || c === 47 || c === 46 || c === 35;

// Shapes of digits that are not phone numbers, tested on a candidate (at most ~60 characters).
// A date (ISO, European, compact YYYYMMDD), possibly followed by the hour of a date-time.
const DATE =
  /^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}|(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(?:[ \u00a0]\d{1,2})?$/;
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}(?:\/\d{1,2})?$/;
const VERSION = /^\d+(?:\.\d+)*\.\d(?:\.\d+)*$/;
const YEARS = /^(?:19|20)\d\d\s*[-\u2010-\u2015]\s*(?:19|20)\d\d$/;

/**
 * Phone numbers in `text`: 7 to 15 digits (E.164 allows 15), optionally after a `+`, in groups
 * separated by spaces (any Unicode space), dashes (any Unicode dash), dots, slashes or parentheses
 * (at most three in a row: `(555) 123 - 4567`), not glued to a letter or digit on either side.
 * Not phone numbers: dates (`2025-01-31`, `31.12.2025`), IPv4 addresses, dotted versions with a
 * one-digit part (`10.0.19045.3693`), year ranges (`2019–2024`), prices (a currency sign before, a
 * decimal comma after: `1 234 567,89`), and numbers tied to a word (`ORD-2024-000123`, `#1234567`).
 * A heuristic that prefers redacting too much: a bare run of 7+ digits (`4500012345`) is taken for a
 * phone number. Measured rates: docs/transforms.md, "What detect finds".
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
      } else if ((d === 43 && j === i) || (isPhoneSeparator(d) && ++separators <= MAX_SEPARATORS)) {
        // a leading '+', or a separator between groups
      } else break;
    }
    const end = lastDigit + 1;
    if (digits >= MIN_PHONE_DIGITS && digits <= MAX_PHONE_DIGITS && isPhone(text, i, end)) out.push(i, end);
    i = Math.max(j, i + 1);
  }
}

/** The checks on a candidate `text.slice(start, end)` that has the digits of a phone number. */
function isPhone(text: string, start: number, end: number): boolean {
  const n = text.length;
  if (end < n && isAlnum(text.charCodeAt(end))) return false; // glued: 2025-01-31T10, 1234567kg
  // A decimal comma after (a price, 1 234 567,89) is part of a number.
  if (end + 1 < n && text.charCodeAt(end) === 44 && isDigit(text.charCodeAt(end + 1))) return false;
  if (start > 0) {
    const before = text.charCodeAt(start - 1);
    if (before === 35) return false; // #1234567
    if (isJoiner(before) && start > 1 && isAlnum(text.charCodeAt(start - 2))) return false;
    const sign = isSpace(before) && start > 1 ? text.charCodeAt(start - 2) : before;
    if (isCurrency(sign)) return false;
  }
  const candidate = text.slice(start, end);
  return !(DATE.test(candidate) || IPV4.test(candidate) || VERSION.test(candidate) || YEARS.test(candidate));
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
  const spans = spare ?? new Spans();
  spare = undefined;
  try {
    if (detectors.email) emails(text, spans);
    const found = spans.length;
    if (detectors.phone) phones(text, spans);
    const n = spans.length;
    if (n === 0) return text;
    if (found > 0 && n > found) spans.sort();
    const pairs = spans.pairs;
    let out = '';
    let from = 0;
    for (let k = 0; k < n; ) {
      const start = pairs[k]!;
      let end = pairs[k + 1]!;
      for (k += 2; k < n && pairs[k]! < end; k += 2) end = Math.max(end, pairs[k + 1]!);
      out += text.slice(from, start) + replace(text.slice(start, end));
      from = end;
    }
    return out + text.slice(from);
  } finally {
    spans.length = 0;
    if (spans.pairs.length <= KEPT_SPANS) spare = spans;
  }
}
