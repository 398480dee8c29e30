// Evasion-resistant normalisation for keyword matching, one code point at a time so that every
// normalised character keeps the UTF-16 span of the original character it came from.
//
// fold(c), for one original code point c, is computed once (lazily) and cached:
//   1. NFKD: compatibility decomposition — full-width ＢＯＭＢ → BOMB, ligatures ﬁ → fi,
//      circled/math letters Ⓑ 𝐛 → B b, superscripts ² → 2, CJK compatibility ideographs → unified.
//   2. toLowerCase (and ß → ss), then NFKD again (İ lowercases to i + U+0307).
//   3. Drop everything that is not a letter, digit or spacing mark: whitespace, punctuation,
//      symbols (incl. emoji), controls, format characters (U+200B–U+200F, U+2060–U+2064,
//      U+FEFF, U+00AD, U+180E, tag characters …), nonspacing/enclosing marks (U+034F, variation
//      selectors, accents, "zalgo"), unassigned code points, lone surrogates and the invisible
//      Hangul fillers (U+115F, U+1160, U+3164, U+FFA0). So "b.o.m.b", "炸 弹", "炸\u200b弹" and
//      "bómb" all read as "bomb"/"炸弹".
//   4. Confusables: Cyrillic, Greek and small-capital look-alikes of Latin letters → Latin.
//   5. Traditional → Simplified Chinese, character by character (t2s-table.ts, from OpenCC).
//
// Keywords go through the same function at compile time, so two strings match iff their folded
// forms match. Per-code-point NFKD is what NFKC would give once marks are dropped (NFKC =
// NFKD + canonical composition, and composition only ever merges a base with marks or Hangul
// jamo, which stay consistent on both sides). Dropping accents is deliberate: it defeats
// "bómb"-style evasion; its cost is that words differing only by a nonspacing mark (café/cafe,
// Japanese が/か) collide — acceptable for a Chinese/English deployment.
//
// Trade-offs, all because matching happens on the folded text:
//   - Separators are ignored, so a keyword can match across words ("an al" → "anal"). The policy
//     limits this for alphabetic keywords with a word-boundary check in the original text
//     (see policy.ts); CJK keywords have no word boundaries to check, as Chinese has no spaces.
//   - Confusable folding applies to real Cyrillic/Greek text too: Russian "сор" folds to Latin
//     "cop". Russian/Greek keywords still match Russian/Greek text (both sides fold alike).
//   - Keywords made only of symbols or emoji fold to nothing and are refused by validation;
//     such rules are regex rules.
import { T2S_PAIRS } from './t2s-table.ts';

/** Encoded fold results: ≥ 0 is the single output code point. */
const UNCOMPUTED = -2;
const DROP = -1;
const MULTI = -3;

// Lowercase (after toLowerCase) look-alikes → Latin. Mapped after lowercasing so that both cases
// of a letter fold alike (Russian "ВОТ" and "вот" both fold to "bot"); for letters whose two cases
// look like different Latin letters, the uppercase look-alike wins (н → h, from Н).
const CONFUSABLES: ReadonlyArray<readonly [string, string]> = [
  // Cyrillic
  ['а', 'a'], ['в', 'b'], ['е', 'e'], ['і', 'i'], ['ј', 'j'], ['к', 'k'], ['м', 'm'], ['н', 'h'],
  ['о', 'o'], ['р', 'p'], ['с', 'c'], ['т', 't'], ['у', 'y'], ['х', 'x'], ['ѕ', 's'], ['ԁ', 'd'],
  ['һ', 'h'], ['ԛ', 'q'], ['ԝ', 'w'], ['ӏ', 'l'], ['ү', 'y'], ['ɡ', 'g'],
  // Greek
  ['α', 'a'], ['β', 'b'], ['γ', 'y'], ['ε', 'e'], ['ζ', 'z'], ['η', 'h'], ['ι', 'i'], ['κ', 'k'],
  ['μ', 'm'], ['ν', 'v'], ['ο', 'o'], ['ρ', 'p'], ['τ', 't'], ['υ', 'u'], ['χ', 'x'], ['ω', 'w'],
  ['ς', 'σ'],
  // Latin letter variants and small capitals (ʙᴏᴍʙ)
  ['ɑ', 'a'], ['ı', 'i'], ['ȷ', 'j'], ['ʙ', 'b'], ['ɢ', 'g'], ['ʜ', 'h'], ['ɪ', 'i'], ['ʟ', 'l'],
  ['ɴ', 'n'], ['ʀ', 'r'], ['ʏ', 'y'], ['ᴀ', 'a'], ['ᴄ', 'c'], ['ᴅ', 'd'], ['ᴇ', 'e'], ['ᴊ', 'j'],
  ['ᴋ', 'k'], ['ᴍ', 'm'], ['ᴏ', 'o'], ['ᴘ', 'p'], ['ᴛ', 't'], ['ᴜ', 'u'], ['ᴠ', 'v'], ['ᴡ', 'w'],
  ['ᴢ', 'z'], ['ꜱ', 's'], ['ꜰ', 'f'],
];

const confusable = new Map<number, number>(
  CONFUSABLES.map(([from, to]) => [from.codePointAt(0) ?? 0, to.codePointAt(0) ?? 0]),
);

const t2s = new Map<number, number>();
{
  const cps = Array.from(T2S_PAIRS, (ch) => ch.codePointAt(0) ?? 0);
  for (let i = 0; i + 1 < cps.length; i += 2) t2s.set(cps[i] ?? 0, cps[i + 1] ?? 0);
}

const JUNK = /^[\p{Cc}\p{Cf}\p{Cs}\p{Cn}\p{Z}\p{P}\p{S}\p{Mn}\p{Me}]$/u;
/** Invisible characters that Unicode classes as letters (Hangul fillers). */
const INVISIBLE_LETTERS = new Set([0x115f, 0x1160, 0x3164, 0xffa0]);

function isJunk(ch: string): boolean {
  return JUNK.test(ch) || INVISIBLE_LETTERS.has(ch.codePointAt(0) ?? 0);
}

// Caches. BMP code points in a flat table; astral ones (emoji, CJK extension B+, math letters)
// in a Map that stops growing at a bound, so a sender cycling through every astral code point
// cannot grow memory without limit (beyond the bound they are simply recomputed).
const bmpFold = new Int32Array(0x10000).fill(UNCOMPUTED);
const astralFold = new Map<number, number>();
const ASTRAL_CACHE_MAX = 65_536;
const multiFold = new Map<number, Int32Array>();

function computeFold(cp: number): number[] {
  const out: number[] = [];
  if (cp >= 0xd800 && cp <= 0xdfff) return out; // lone surrogate
  for (const ch of String.fromCodePoint(cp).normalize('NFKD')) {
    if (isJunk(ch)) continue;
    for (const lower of ch.toLowerCase().normalize('NFKD')) {
      if (isJunk(lower)) continue;
      let c = lower.codePointAt(0) ?? 0;
      if (c === 0xdf) {
        out.push(0x73, 0x73); // ß → ss (full case folding)
        continue;
      }
      c = confusable.get(c) ?? c;
      c = t2s.get(c) ?? c;
      out.push(c);
    }
  }
  return out;
}

function encodeFold(cp: number): number {
  const out = computeFold(cp);
  if (out.length === 0) return DROP;
  if (out.length === 1) return out[0] ?? DROP;
  multiFold.set(cp, Int32Array.from(out));
  return MULTI;
}

function foldCode(cp: number): number {
  if (cp < 0x10000) {
    let f = bmpFold[cp] ?? UNCOMPUTED;
    if (f === UNCOMPUTED) {
      f = encodeFold(cp);
      bmpFold[cp] = f;
    }
    return f;
  }
  let f = astralFold.get(cp);
  if (f === undefined) {
    f = encodeFold(cp);
    if (astralFold.size < ASTRAL_CACHE_MAX) astralFold.set(cp, f);
    else if (f === MULTI) multiFold.delete(cp); // keep the two caches bounded together
  }
  return f;
}

/** The folded code points of one original code point (empty when it is dropped). */
export function foldCodePoint(cp: number): readonly number[] {
  const f = foldCode(cp);
  if (f >= 0) return [f];
  if (f === DROP) return [];
  return Array.from(multiFold.get(cp) ?? computeFold(cp));
}

/**
 * Reusable output buffers: folded code points, and for each the UTF-16 span [start, end) of the
 * original code point it came from. Grown on demand, never shrunk; one per policy scanner, so the
 * hot path allocates nothing for ordinary messages.
 */
export class NormalisedBuffer {
  cps = new Int32Array(256);
  starts = new Int32Array(256);
  ends = new Int32Array(256);
  length = 0;

  ensure(capacity: number): void {
    if (capacity <= this.cps.length) return;
    let size = this.cps.length;
    while (size < capacity) size *= 2;
    const grow = (a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(size);
      b.set(a.subarray(0, this.length));
      return b;
    };
    this.cps = grow(this.cps);
    this.starts = grow(this.starts);
    this.ends = grow(this.ends);
  }
}

/** Folds `text` into `buf`; returns the folded length. The hot path of keyword matching. */
export function normaliseInto(text: string, buf: NormalisedBuffer): number {
  const len = text.length;
  buf.length = 0;
  buf.ensure(len + 16);
  let cps = buf.cps;
  let starts = buf.starts;
  let ends = buf.ends;
  let n = 0;
  let i = 0;
  while (i < len) {
    let cp = text.charCodeAt(i);
    let w = 1;
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < len) {
      const lo = text.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = ((cp - 0xd800) << 10) + (lo - 0xdc00) + 0x10000;
        w = 2;
      }
    }
    let f: number;
    if (cp < 0x10000) {
      f = bmpFold[cp] ?? UNCOMPUTED;
      if (f === UNCOMPUTED) f = foldCode(cp);
    } else {
      f = foldCode(cp);
    }
    if (f >= 0) {
      cps[n] = f;
      starts[n] = i;
      ends[n] = i + w;
      n++;
    } else if (f === MULTI) {
      const many = multiFold.get(cp) ?? Int32Array.from(computeFold(cp));
      if (n + many.length + (len - i) > cps.length) {
        buf.length = n;
        buf.ensure(n + many.length + (len - i) + 16);
        cps = buf.cps;
        starts = buf.starts;
        ends = buf.ends;
      }
      for (let k = 0; k < many.length; k++) {
        cps[n] = many[k] ?? 0;
        starts[n] = i;
        ends[n] = i + w;
        n++;
      }
    }
    i += w;
  }
  buf.length = n;
  return n;
}

/** The folded form of a keyword, as code points (compile time). */
export function normaliseKeyword(keyword: string): number[] {
  const out: number[] = [];
  for (const ch of keyword) out.push(...foldCodePoint(ch.codePointAt(0) ?? 0));
  return out;
}

/** Folded text plus the original span of each folded code point: for tests and diagnostics. */
export function normalise(text: string): { text: string; starts: number[]; ends: number[] } {
  const buf = new NormalisedBuffer();
  const n = normaliseInto(text, buf);
  return {
    text: String.fromCodePoint(...buf.cps.subarray(0, n)),
    starts: Array.from(buf.starts.subarray(0, n)),
    ends: Array.from(buf.ends.subarray(0, n)),
  };
}

// ---- Word classes, for the word-boundary check on alphabetic keywords ----

export const WORD_NONE = 0;
export const WORD_LETTER = 1;
export const WORD_DIGIT = 2;
export type WordClass = typeof WORD_NONE | typeof WORD_LETTER | typeof WORD_DIGIT;

const SPACED_LETTER =
  /^(?=\p{L})[\p{Script=Latin}\p{Script=Greek}\p{Script=Cyrillic}\p{Script=Armenian}\p{Script=Georgian}]$/u;
const bmpClass = new Int8Array(0x10000).fill(-1);

/**
 * The word class of a folded code point: a letter of a script that separates words with spaces,
 * a digit, or neither (Han, kana, punctuation …). Only letters and digits of spaced scripts have
 * word boundaries worth checking.
 */
export function wordClassOfFolded(cp: number): WordClass {
  if (cp >= 0x61 && cp <= 0x7a) return WORD_LETTER;
  if (cp >= 0x30 && cp <= 0x39) return WORD_DIGIT;
  if (cp < 0x10000) {
    const c = bmpClass[cp] ?? -1;
    if (c >= 0) return c as WordClass;
  }
  const ch = String.fromCodePoint(cp);
  const cls: WordClass = SPACED_LETTER.test(ch) ? WORD_LETTER : /^\p{Nd}$/u.test(ch) ? WORD_DIGIT : WORD_NONE;
  if (cp < 0x10000) bmpClass[cp] = cls;
  return cls;
}

/** Word class of the original code point ending at UTF-16 offset `end` (its last folded char). */
export function wordClassBefore(text: string, end: number): WordClass {
  if (end <= 0) return WORD_NONE;
  let cp = text.charCodeAt(end - 1);
  if (cp >= 0xdc00 && cp <= 0xdfff && end >= 2) {
    const hi = text.charCodeAt(end - 2);
    if (hi >= 0xd800 && hi <= 0xdbff) cp = ((hi - 0xd800) << 10) + (cp - 0xdc00) + 0x10000;
  }
  const f = foldCodePoint(cp);
  const last = f[f.length - 1];
  return last === undefined ? WORD_NONE : wordClassOfFolded(last);
}

/** Word class of the original code point starting at UTF-16 offset `start` (its first folded char). */
export function wordClassAt(text: string, start: number): WordClass {
  if (start >= text.length) return WORD_NONE;
  const cp = text.codePointAt(start) ?? 0;
  const first = foldCodePoint(cp)[0];
  return first === undefined ? WORD_NONE : wordClassOfFolded(first);
}
