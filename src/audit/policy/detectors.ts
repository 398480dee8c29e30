// Built-in detectors for sensitive data. Each runs on the ORIGINAL text (numbers and keys are not
// evasion-normalised: their checksums make accidental matches rare, and folding would move
// offsets) and appends [start, end) UTF-16 spans to a caller-owned flat array, so a message
// without a match allocates nothing.
//
// Numeric detectors (resident ID, card, mobile) share one scanner of "digit chains": runs of
// digits joined by single spaces or dashes ("4111 1111 1111 1111", "138-0013-8000"). A candidate
// is a sequence of whole groups of one chain, so it can never start or end inside a longer run
// of digits. Full-width digits (０-９, common from Chinese input methods) count as digits.
// A checksum-invalid number is never a match.

export const DETECTOR_NAMES = [
  'cn_resident_id',
  'credit_card',
  'cn_mobile',
  'email',
  'iban',
  'private_key',
  'aws_access_key',
  'secret_token',
] as const;

export type DetectorName = (typeof DETECTOR_NAMES)[number];

/** Appends [start, end, start, end, …] UTF-16 spans of `text` to `out`. */
export type Detector = (text: string, out: number[]) => void;

export function isDetectorName(name: string): name is DetectorName {
  return (DETECTOR_NAMES as readonly string[]).includes(name);
}

// ---------------------------------------------------------------------------------------------
// Checksums (exported for tests)

/** Luhn (ISO/IEC 7812-1) over digit values. */
export function luhnValid(digits: ArrayLike<number>, from = 0, to = digits.length): boolean {
  let sum = 0;
  let double = false;
  for (let i = to - 1; i >= from; i--) {
    let d = digits[i] ?? 0;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = '10X98765432';

/** GB 11643-1999 check character (ISO 7064 MOD 11-2) for 17 digit values: '0'-'9' or 'X'. */
export function residentIdCheckChar(digits: ArrayLike<number>, from = 0): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += (digits[from + i] ?? 0) * (ID_WEIGHTS[i] ?? 0);
  return ID_CHECK[sum % 11] ?? '?';
}

let todayKey = 0;
let todayComputedAt = 0;
/** Today as YYYYMMDD (UTC), recomputed at most once a minute. */
function today(): number {
  const now = Date.now();
  if (now - todayComputedAt > 60_000) {
    const d = new Date(now);
    todayKey = d.getUTCFullYear() * 10000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
    todayComputedAt = now;
  }
  return todayKey;
}

/** A real calendar date between 1900-01-01 and today. */
export function plausibleBirthDate(year: number, month: number, day: number): boolean {
  if (year < 1900 || month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
  if (day > days) return false;
  return year * 10000 + month * 100 + day <= today();
}

/** ISO 13616 IBAN lengths for common countries; others must be 15–34. */
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, CH: 21, CR: 22,
  CY: 28, CZ: 24, DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22,
  GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27,
  JO: 30, KW: 30, KZ: 20, LB: 28, LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MD: 24, ME: 22, MK: 19,
  MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22,
  SA: 24, SC: 31, SE: 24, SI: 19, SK: 24, SM: 27, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20,
};

/** ISO 7064 MOD 97-10 over an IBAN without spaces (uppercase letters and digits). */
export function ibanChecksumValid(iban: string): boolean {
  if (iban.length < 5) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    if (c >= 48 && c <= 57) rem = (rem * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rem = (rem * 100 + (c - 55)) % 97;
    else return false;
  }
  return rem === 1;
}

// ---------------------------------------------------------------------------------------------
// Digit chains

/** Digit value of a UTF-16 code unit: ASCII or full-width digit, else -1. */
function digitAt(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 0xff10 && c <= 0xff19) return c - 0xff10;
  return -1;
}

function isX(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c === 0x58 || c === 0x78 || c === 0xff38 || c === 0xff58; // X x Ｘ ｘ
}

/**
 * The digit chains of one text, in reusable typed arrays. The three numeric detectors usually run
 * on the same text one after another, so the chains are computed once and kept for that text.
 */
class Chains {
  text = '';
  /** Digit values of all chains, concatenated. */
  digits = new Int8Array(256);
  /** Per group: UTF-16 start and end, and index of its first digit (groupDigit has one extra entry). */
  groupStart = new Int32Array(64);
  groupEnd = new Int32Array(64);
  groupDigit = new Int32Array(65);
  groups = 0;
  /** Per chain: its first group; chainGroup[chains] = groups. */
  chainGroup = new Int32Array(33);
  chains = 0;

  of(text: string): this {
    if (text === this.text) return this;
    this.text = text;
    this.groups = 0;
    this.chains = 0;
    const len = text.length;
    if (this.digits.length < len) this.digits = new Int8Array(len);
    let nDigits = 0;
    let i = 0;
    while (i < len) {
      if (digitAt(text, i) < 0) {
        i++;
        continue;
      }
      this.pushChain();
      for (;;) {
        this.pushGroup(i, nDigits);
        let d: number;
        while (i < len && (d = digitAt(text, i)) >= 0) {
          this.digits[nDigits++] = d;
          i++;
        }
        this.groupEnd[this.groups - 1] = i;
        const sep = text.charCodeAt(i);
        if ((sep === 0x20 || sep === 0x2d) && i + 1 < len && digitAt(text, i + 1) >= 0) {
          i++;
          continue;
        }
        break;
      }
    }
    this.groupDigit[this.groups] = nDigits;
    this.chainGroup[this.chains] = this.groups;
    return this;
  }

  private pushChain(): void {
    if (this.chains + 1 >= this.chainGroup.length) this.chainGroup = grow(this.chainGroup);
    this.chainGroup[this.chains++] = this.groups;
  }

  private pushGroup(start: number, digit: number): void {
    if (this.groups + 1 >= this.groupDigit.length) {
      this.groupStart = grow(this.groupStart);
      this.groupEnd = grow(this.groupEnd);
      this.groupDigit = grow(this.groupDigit);
    }
    this.groupStart[this.groups] = start;
    this.groupDigit[this.groups] = digit;
    this.groups++;
  }

  /** Number of digits in groups a..b (inclusive). */
  digitsIn(a: number, b: number): number {
    return this.groupDigit[b + 1]! - this.groupDigit[a]!;
  }
}

function grow(a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

const chains = new Chains();

/**
 * A number written in groups has groups of at least 3 digits (cards: 4-4-4-4, 4-6-5, 4-4-4-4-3;
 * ID numbers: 6-8-4): runs of short groups are lists, dates and times ("1 2 3 4 …", "2024-01-05"),
 * and one in ten of them would pass Luhn.
 */
const MIN_GROUP = 3;

// ---------------------------------------------------------------------------------------------
// cn_resident_id: 17 digits + check character (digit or X), GB 11643-1999.

export const detectResidentId: Detector = (text, out) => {
  const c = chains.of(text);
  const d = c.digits;
  for (let k = 0; k < c.chains; k++) {
    const last = c.chainGroup[k + 1]! - 1;
    for (let a = c.chainGroup[k]!; a <= last; a++) {
      for (let b = a; b <= last; b++) {
        const n = c.digitsIn(a, b);
        if (n > 18 || (b > a && (c.digitsIn(b, b) < MIN_GROUP || c.digitsIn(a, a) < MIN_GROUP))) break;
        const end = c.groupEnd[b]!;
        const withX = n === 17 && b === last && isX(text, end) && digitAt(text, end + 1) < 0;
        if (n !== 18 && !withX) continue;
        const from = c.groupDigit[a]!;
        if (d[from] === 0) continue; // region codes start 1–9
        const year = d[from + 6]! * 1000 + d[from + 7]! * 100 + d[from + 8]! * 10 + d[from + 9]!;
        const month = d[from + 10]! * 10 + d[from + 11]!;
        const day = d[from + 12]! * 10 + d[from + 13]!;
        if (!plausibleBirthDate(year, month, day)) continue;
        const check = residentIdCheckChar(d, from);
        if (withX ? check !== 'X' : check !== String(d[from + 17])) continue;
        out.push(c.groupStart[a]!, withX ? end + 1 : end);
        a = b; // continue after this number
        break;
      }
    }
  }
};

// ---------------------------------------------------------------------------------------------
// credit_card: 13–19 digits, Luhn-valid, issuer prefix 2–6 (Mastercard 2-series, Amex/Diners/JCB
// 3, Visa 4, Mastercard/Maestro 5, Discover/UnionPay 6). The prefix check halves the false
// positives of Luhn alone (one random digit string in ten passes Luhn) at no real cost: cards
// starting with 1, 7, 8, 9 or 0 are not issued to the public.

export const detectCreditCard: Detector = (text, out) => {
  const c = chains.of(text);
  for (let k = 0; k < c.chains; k++) {
    const last = c.chainGroup[k + 1]! - 1;
    for (let a = c.chainGroup[k]!; a <= last; a++) {
      const from = c.groupDigit[a]!;
      const first = c.digits[from]!;
      if (first < 2 || first > 6) continue;
      let best = -1;
      for (let b = a; b <= last; b++) {
        const n = c.digitsIn(a, b);
        if (n > 19 || (b > a && (c.digitsIn(b, b) < MIN_GROUP || c.digitsIn(a, a) < MIN_GROUP))) break;
        if (n >= 13 && luhnValid(c.digits, from, from + n)) best = b;
      }
      if (best >= 0) {
        out.push(c.groupStart[a]!, c.groupEnd[best]!);
        a = best;
      }
    }
  }
};

// ---------------------------------------------------------------------------------------------
// cn_mobile: 1[3-9]\d{9}, solid or grouped 3-4-4, optionally after +86 / 0086 (same group or a
// group of its own).

function isMobileAt(d: Int8Array, from: number): boolean {
  return d[from] === 1 && d[from + 1]! >= 3;
}

export const detectCnMobile: Detector = (text, out) => {
  const c = chains.of(text);
  const d = c.digits;
  for (let k = 0; k < c.chains; k++) {
    const firstGroup = c.chainGroup[k]!;
    const lastGroup = c.chainGroup[k + 1]! - 1;
    for (let a = firstGroup; a <= lastGroup; a++) {
      const from = c.groupDigit[a]!;
      const len = c.digitsIn(a, a);
      const start = c.groupStart[a]!;
      const plus = text.charCodeAt(start - 1) === 0x2b; // '+'
      let numberFrom = -1;
      let last = a;
      if (len === 11) numberFrom = from;
      else if (len === 13 && plus && d[from] === 8 && d[from + 1] === 6) numberFrom = from + 2;
      else if (len === 15 && d[from] === 0 && d[from + 1] === 0 && d[from + 2] === 8 && d[from + 3] === 6) numberFrom = from + 4;
      else if (len === 3 && a + 2 <= lastGroup && c.digitsIn(a + 1, a + 1) === 4 && c.digitsIn(a + 2, a + 2) === 4) {
        numberFrom = from;
        last = a + 2;
      }
      if (numberFrom < 0 || !isMobileAt(d, numberFrom)) continue;
      // A country code in the previous group of the chain: "+86 138…" or "0086-138…".
      let spanStart = start;
      if (numberFrom === from && a > firstGroup) {
        const p = c.groupDigit[a - 1]!;
        const prevLen = c.digitsIn(a - 1, a - 1);
        const prevStart = c.groupStart[a - 1]!;
        const is86 = prevLen === 2 && d[p] === 8 && d[p + 1] === 6 && text.charCodeAt(prevStart - 1) === 0x2b;
        const is0086 = prevLen === 4 && d[p] === 0 && d[p + 1] === 0 && d[p + 2] === 8 && d[p + 3] === 6;
        if (is86) spanStart = prevStart - 1;
        else if (is0086) spanStart = prevStart;
      } else if (numberFrom !== from && plus) {
        spanStart = start - 1;
      }
      out.push(spanStart, c.groupEnd[last]!);
      a = last;
    }
  }
};

// ---------------------------------------------------------------------------------------------
// email: pragmatic RFC 5322 dot-atom shape, found by expanding around each '@' (linear time; a
// regex with an unbounded local part backtracks quadratically on long runs without '@').

function isLocalChar(c: number): boolean {
  // A-Z a-z 0-9 and ! # $ % & ' * + - / = ? ^ _ ` { | } ~ .
  return (
    (c >= 97 && c <= 122) ||
    (c >= 65 && c <= 90) ||
    (c >= 48 && c <= 57) ||
    c === 0x2e || c === 0x21 || (c >= 0x23 && c <= 0x27) || c === 0x2a || c === 0x2b ||
    c === 0x2d || c === 0x2f || c === 0x3d || c === 0x3f || (c >= 0x5e && c <= 0x60) ||
    (c >= 0x7b && c <= 0x7e)
  );
}

function isDomainChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 0x2d || c === 0x2e;
}

function isAlpha(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

export const detectEmail: Detector = (text, out) => {
  let at = text.indexOf('@');
  let lastEnd = 0;
  while (at >= 0) {
    // Local part: at most 64 characters, not starting or ending with '.'.
    let s = at;
    while (s > lastEnd && at - s <= 64 && isLocalChar(text.charCodeAt(s - 1))) s--;
    const tooLong = at - s > 64;
    while (s < at && text.charCodeAt(s) === 0x2e) s++;
    const localOk = !tooLong && s < at && text.charCodeAt(at - 1) !== 0x2e;
    // Domain: labels of [A-Za-z0-9-], no leading/trailing '-', a 2+ letter TLD.
    let e = at + 1;
    while (e < text.length && isDomainChar(text.charCodeAt(e))) e++;
    let end = -1;
    if (localOk) {
      let domain = text.slice(at + 1, e);
      while (domain.length > 0 && (domain.endsWith('.') || domain.endsWith('-'))) domain = domain.slice(0, -1);
      const labels = domain.split('.');
      // Trailing labels that cannot be a TLD ("a@b.com.1") are not part of the address.
      while (labels.length >= 2) {
        const tld = labels[labels.length - 1] ?? '';
        if (tld.length >= 2 && tld.length <= 63 && [...tld].every((ch) => isAlpha(ch.charCodeAt(0)))) break;
        labels.pop();
      }
      const valid =
        labels.length >= 2 &&
        labels.every((l) => l.length > 0 && l.length <= 63 && !l.startsWith('-') && !l.endsWith('-'));
      if (valid) end = at + 1 + labels.join('.').length;
    }
    if (end > 0) {
      out.push(s, end);
      lastEnd = end;
    }
    at = text.indexOf('@', Math.max(at + 1, end));
  }
};

// ---------------------------------------------------------------------------------------------
// iban: country code + 2 check digits + BBAN, compact or with single spaces (printed IBANs group
// by 4; any single spaces are accepted); MOD 97 == 1 and the country's length (or 15–34 for
// countries not in the table). Upper case only, as IBANs are written.

const IBAN_CANDIDATE = /(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}/g;

export const detectIban: Detector = (text, out) => {
  IBAN_CANDIDATE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = IBAN_CANDIDATE.exec(text)) !== null) {
    const start = m.index;
    const raw = m[0];
    const expected = IBAN_LENGTHS[raw.slice(0, 2)];
    // Offsets (in raw) just after each alphanumeric character.
    let compact = '';
    const endAfter: number[] = [];
    for (let i = 0; i < raw.length; i++) {
      if (raw.charCodeAt(i) !== 0x20) {
        compact += raw[i];
        endAfter.push(i + 1);
      }
    }
    let n = -1;
    if (expected !== undefined) {
      if (compact.length >= expected) n = expected;
    } else if (compact.length >= 15 && compact.length <= 34) {
      n = compact.length;
    }
    if (n < 0) {
      IBAN_CANDIDATE.lastIndex = start + 1; // a valid IBAN may start after a space inside this one
      continue;
    }
    const end = start + (endAfter[n - 1] ?? 0);
    const next = text.charCodeAt(end);
    const nextIsAlnum = isAlpha(next) || (next >= 48 && next <= 57);
    if (!nextIsAlnum && ibanChecksumValid(compact.slice(0, n))) {
      out.push(start, end);
      IBAN_CANDIDATE.lastIndex = end;
    } else {
      IBAN_CANDIDATE.lastIndex = start + 1;
    }
  }
};

// ---------------------------------------------------------------------------------------------
// private_key: a PEM private-key header through its footer. Without a footer (a truncated paste)
// the span runs to the end of the message: the key material follows the header.

const PEM_HEADER = /-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY|PGP PRIVATE KEY BLOCK)-----/g;

export const detectPrivateKey: Detector = (text, out) => {
  if (!text.includes('-----BEGIN ')) return;
  PEM_HEADER.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = PEM_HEADER.exec(text)) !== null) {
    const footer = `-----END ${m[1] ?? ''}-----`;
    const f = text.indexOf(footer, m.index + m[0].length);
    const end = f < 0 ? text.length : f + footer.length;
    out.push(m.index, end);
    PEM_HEADER.lastIndex = end;
  }
};

// ---------------------------------------------------------------------------------------------
// aws_access_key

const AWS_KEY = /(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}(?![A-Za-z0-9])/g;

export const detectAwsAccessKey: Detector = (text, out) => {
  AWS_KEY.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = AWS_KEY.exec(text)) !== null) out.push(m.index, m.index + m[0].length);
};

// ---------------------------------------------------------------------------------------------
// secret_token: known API-key shapes, "key = value" assignments, and high-entropy strings.

const TOKEN_SHAPES = new RegExp(
  '(?<![A-Za-z0-9_])(?:' +
    [
      'gh[pousr]_[A-Za-z0-9]{36,251}', // GitHub classic tokens
      'github_pat_[A-Za-z0-9_]{22,244}', // GitHub fine-grained tokens
      'xox[baprs]-[A-Za-z0-9-]{10,250}', // Slack
      '(?:sk|rk)_live_[A-Za-z0-9]{16,247}', // Stripe secret / restricted keys
      'AIza[0-9A-Za-z_-]{35}', // Google API keys
      'eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}', // JWT (header is base64 of {")
    ].join('|') +
    ')',
  'g',
);

// The value of an assignment to a secret-looking name: printable ASCII without quotes, brackets
// or separators, 6–200 characters. Only the value is the span, so redaction keeps "password: ".
const ASSIGNMENT = new RegExp(
  '(?:(?<![A-Za-z0-9])(?:api[_-]?key|access[_-]?key|secret(?:[_-]?key)?|client[_-]?secret|(?:auth|access|api)?[_-]?token|passwd|password|pwd)|密码|口令|密钥|令牌)' +
    '["\']?\\s*[:=：]\\s*["\']?([!#-&(-+\\--:=?-Z\\\\^-z|~]{6,200})',
  'gi',
);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isTokenChar(c: number): boolean {
  // base64 and base64url alphabets: A-Z a-z 0-9 + / = _ -
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) ||
    c === 0x2b || c === 0x2f || c === 0x3d || c === 0x5f || c === 0x2d
  );
}

const counts = new Int32Array(128);

/** Shannon entropy in bits per character of text[start..end) (ASCII only). */
export function shannonEntropy(text: string, start = 0, end = text.length): number {
  counts.fill(0);
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 128) counts[c] = (counts[c] ?? 0) + 1;
  }
  const n = end - start;
  let h = 0;
  for (let c = 0; c < 128; c++) {
    const k = counts[c] ?? 0;
    if (k > 0) {
      const p = k / n;
      h -= p * Math.log2(p);
    }
  }
  return h;
}

function charClass(c: number): number {
  if (c >= 97 && c <= 122) return 0;
  if (c >= 65 && c <= 90) return 1;
  if (c >= 48 && c <= 57) return 2;
  return 3;
}

/**
 * Calibration (random tokens from crypto.randomBytes; identifiers generated from English words
 * in camelCase/snake_case with numbers; and the 510 mixed-case tokens of ≥ 24 characters with a
 * digit found in node_modules' .ts/.md sources). Entropy alone cannot separate them: random
 * base64 of 24 characters has 3.7–4.3 bits/char, and "ThisIsAVeryLongCamelCaseIdentifierName"
 * has 4.2. What separates them is how often the character class (lower/upper/digit/other)
 * changes between neighbours: ~65% in random base64 (≥ 44% at p1), ≤ 50% at p99 for
 * identifiers, whose words are runs of lower case. So a base64-alphabet token is flagged when it
 * has ≥ 24 characters, upper and lower case and a digit, entropy ≥ 3.5 bits/char and ≥ 50% class
 * changes. Measured: flags 90% of random 24-character tokens, 94% at 32, 96% at 40, 98.5% at
 * 60 (a random token that misses has long same-case runs); no generated identifier; 26 of the 510
 * real tokens, nearly all of them real base64 (integrity hashes, certificates).
 * A hex-only token needs ≥ 32 characters (128 bits), letters and digits, and entropy ≥ 3.0
 * (random 32-hex: ≥ 3.1 at p0.1); this flags commit hashes and checksums too, which cannot be
 * told from hex API keys. UUIDs and tokens inside URLs are never flagged; Chinese text has no
 * candidate tokens.
 */
export const ENTROPY_MIN_LENGTH = 24;
const HEX_MIN_LENGTH = 32;
const BASE64_MIN_ENTROPY = 3.5;
const BASE64_MIN_CLASS_CHANGES = 0.5;
const HEX_MIN_ENTROPY = 3.0;
const ENTROPY_MAX_ANALYSED = 4096;

function looksRandom(text: string, start: number, end: number): boolean {
  let lower = false;
  let upper = false;
  let digit = false;
  let hexOnly = true;
  let hexLetters = false;
  let changes = 0;
  let prev = -1;
  // Trailing base64 padding says nothing about randomness.
  while (end > start && text.charCodeAt(end - 1) === 0x3d) end--;
  const stop = Math.min(end, start + ENTROPY_MAX_ANALYSED);
  for (let i = start; i < stop; i++) {
    const c = text.charCodeAt(i);
    const k = charClass(c);
    if (k === 0) lower = true;
    else if (k === 1) upper = true;
    else if (k === 2) digit = true;
    const isHex = (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
    if (!isHex) hexOnly = false;
    else if (c >= 65) hexLetters = true;
    if (prev >= 0 && k !== prev) changes++;
    prev = k;
  }
  const n = stop - start;
  if (n < ENTROPY_MIN_LENGTH) return false;
  if (hexOnly) {
    if (upper && lower) return false; // mixed-case hex is not how hex is written
    return n >= HEX_MIN_LENGTH && digit && hexLetters && shannonEntropy(text, start, stop) >= HEX_MIN_ENTROPY;
  }
  if (!(lower && upper && digit)) return false;
  if (changes / (n - 1) < BASE64_MIN_CLASS_CHANGES) return false;
  return shannonEntropy(text, start, stop) >= BASE64_MIN_ENTROPY;
}

/** Is text[start..end) part of a URL (its whitespace-delimited word contains "://" or starts "www.")? */
function insideUrl(text: string, start: number, end: number): boolean {
  let ws = start;
  while (ws > 0 && !/\s/.test(text[ws - 1] ?? ' ')) ws--;
  let we = end;
  while (we < text.length && !/\s/.test(text[we] ?? ' ')) we++;
  const word = text.slice(ws, we);
  return word.includes('://') || word.toLowerCase().startsWith('www.');
}

function highEntropyTokens(text: string, out: number[]): void {
  const len = text.length;
  let i = 0;
  while (i < len) {
    if (!isTokenChar(text.charCodeAt(i))) {
      i++;
      continue;
    }
    const start = i;
    while (i < len && isTokenChar(text.charCodeAt(i))) i++;
    if (i - start < ENTROPY_MIN_LENGTH) continue;
    const token = text.slice(start, i);
    if (UUID.test(token)) continue;
    if (looksRandom(text, start, i) && !insideUrl(text, start, i)) out.push(start, i);
  }
}

/** Sorts and merges the overlapping spans that were appended to `out` from index `from` on. */
function mergeSpans(out: number[], from: number): void {
  if (out.length - from <= 2) return;
  const pairs: [number, number][] = [];
  for (let i = from; i + 1 < out.length; i += 2) pairs.push([out[i]!, out[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  out.length = from;
  let [s, e] = pairs[0]!;
  for (let k = 1; k < pairs.length; k++) {
    const [ns, ne] = pairs[k]!;
    if (ns < e) e = Math.max(e, ne);
    else {
      out.push(s, e);
      s = ns;
      e = ne;
    }
  }
  out.push(s, e);
}

export const detectSecretToken: Detector = (text, out) => {
  const from = out.length;
  TOKEN_SHAPES.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = TOKEN_SHAPES.exec(text)) !== null) out.push(m.index, m.index + m[0].length);
  ASSIGNMENT.lastIndex = 0;
  const assigns = text.includes(':') || text.includes('=') || text.includes('：');
  while (assigns && (m = ASSIGNMENT.exec(text)) !== null) {
    const value = m[1] ?? '';
    const end = m.index + m[0].length;
    out.push(end - value.length, end);
  }
  highEntropyTokens(text, out);
  mergeSpans(out, from); // a GitHub token is also a high-entropy string: report it once
};

export const DETECTORS: Readonly<Record<DetectorName, Detector>> = {
  cn_resident_id: detectResidentId,
  credit_card: detectCreditCard,
  cn_mobile: detectCnMobile,
  email: detectEmail,
  iban: detectIban,
  private_key: detectPrivateKey,
  aws_access_key: detectAwsAccessKey,
  secret_token: detectSecretToken,
};

/** Runs one detector and returns its spans as [start, end] pairs (tests, diagnostics). */
export function detect(name: DetectorName, text: string): [number, number][] {
  const flat: number[] = [];
  DETECTORS[name](text, flat);
  const pairs: [number, number][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i] ?? 0, flat[i + 1] ?? 0]);
  return pairs;
}
