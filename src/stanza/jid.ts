// XMPP addresses (JIDs) per RFC 7622, with the PRECIS profiles of RFC 8265.
//
// This runs for the to/from of every stanza, so the common case — an all-ASCII
// JID — never touches Unicode machinery: each part is checked with one charCode
// loop and returned without copying when it is already canonical. Anything
// non-ASCII takes a slower path (width mapping, case mapping, NFC, repertoire
// checks via Unicode property regexes, IDNA via node:url). Nothing is cached.
//
// The PRECIS repertoire checks are a pragmatic approximation of RFC 8264's
// derived property tables, built from General_Category and binary Unicode
// properties that JavaScript regexes know. Known differences from the full
// algorithm, all on the strict side:
//  - CONTEXTJ/CONTEXTO code points (ZWJ, ZWNJ, MIDDLE DOT, GREEK KERAIA,
//    HEBREW GERESH/GERSHAYIM, KATAKANA MIDDLE DOT) are always rejected in
//    localparts and domainparts, never allowed in their permitted contexts.
//  - The Bidi Rule (RFC 5893) is not applied to localparts; for domainparts
//    node:url's UTS #46 processing applies it (CheckBidi).
//  - The mixed Arabic-Indic digit rule of RFC 5892 is not checked.
//  - IPvFuture literals ("[v1.…]") are rejected; IPv6 zone ids too.
//  - Domain labels must be NR-LDH or U-labels: no underscores.
import { Buffer } from 'node:buffer';
import { isIPv6 } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';

/** An XMPP address. Every part is normalised; '' when the part is absent. */
export interface Jid {
  readonly local: string;
  readonly domain: string;
  readonly resource: string;
}

export type JidError = { readonly error: 'jid-malformed'; readonly reason: string };

/** RFC 7622 §3.2–3.4: every part is at most 1023 octets of UTF-8. */
const MAX_OCTETS = 1023;
/** RFC 1034 §3.1 (and RFC 5890 for A-labels): a DNS label is at most 63 octets. */
const MAX_LABEL = 63;
/**
 * A cheap bound before any Unicode work. NFC composes at most four code points
 * into one (e.g. U+1F82), so an input longer than this many UTF-16 units cannot
 * prepare into 1023 octets. It only spares us normalising huge garbage.
 */
const MAX_RAW_UNITS = 4 * MAX_OCTETS;

// Errors are preallocated: a rejected JID costs no allocation either.
const malformed = (reason: string): JidError => Object.freeze({ error: 'jid-malformed', reason });
const E_EMPTY = malformed('empty JID');
const E_LOCAL_EMPTY = malformed('localpart is empty');
const E_LOCAL_LONG = malformed('localpart is longer than 1023 octets');
const E_LOCAL_CHAR = malformed('localpart contains a disallowed character');
const E_LOCAL_SPECIAL = malformed('localpart contains one of " & \' / : < > @ (RFC 7622 §3.3.1)');
const E_DOMAIN_EMPTY = malformed('domainpart is empty');
const E_DOMAIN_LONG = malformed('domainpart is longer than 1023 octets');
const E_DOMAIN_CHAR = malformed('domainpart contains a disallowed character');
const E_DOMAIN_LABEL_EMPTY = malformed('domainpart has an empty label');
const E_DOMAIN_LABEL_LONG = malformed('domainpart has a label longer than 63 octets');
const E_DOMAIN_HYPHEN = malformed('domainpart label starts or ends with a hyphen, or has "--" in positions 3-4');
const E_DOMAIN_NUMERIC = malformed('domainpart has an all-numeric top-level label but is not an IPv4 address');
const E_DOMAIN_IDNA = malformed('domainpart is not a valid internationalised domain name');
const E_DOMAIN_IP6 = malformed('domainpart is not a valid IPv6 literal');
const E_RESOURCE_EMPTY = malformed('resourcepart is empty');
const E_RESOURCE_LONG = malformed('resourcepart is longer than 1023 octets');
const E_RESOURCE_CHAR = malformed('resourcepart contains a disallowed character');

// ASCII classification for localparts (RFC 8264 §9.11 ASCII7 is U+0021..U+007E).
const L_OK = 0;
const L_UPPER = 1;
const L_BAD = 2; // controls, space, DEL
const L_SPECIAL = 3; // RFC 7622 §3.3.1: " & ' / : < > @
const LOCAL_ASCII = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  if (c <= 0x20 || c === 0x7f) LOCAL_ASCII[c] = L_BAD;
  else if (c >= 0x41 && c <= 0x5a) LOCAL_ASCII[c] = L_UPPER;
  else if ('"&\'/:<>@'.includes(String.fromCharCode(c))) LOCAL_ASCII[c] = L_SPECIAL;
}

// RFC 8265 §3.3.1 width mapping: <wide>/<narrow> decompositions live in
// U+3000 and the Halfwidth and Fullwidth Forms block; NFKC of one of those
// code points is exactly its decomposition.
const WIDE_NARROW = /[\u3000\uFF01-\uFFEE]/g;
const widthMap = (s: string): string => s.replace(WIDE_NARROW, (c) => c.normalize('NFKC'));

// RFC 8264 §9.1 IdentifierClass, PVALID: LetterDigits (Ll Lu Lo Lm Nd Mn Mc) and ASCII7.
const IDENTIFIER_CLASS = /^[\x21-\x7E\p{Ll}\p{Lu}\p{Lo}\p{Lm}\p{Nd}\p{Mn}\p{Mc}]+$/u;
// RFC 8264 §9.2 FreeformClass, PVALID: the above plus Spaces, Symbols, Punctuation,
// OtherLetterDigits (Lt Nl No Me) and HasCompat — i.e. every L, M, N, P, S and space.
const FREEFORM_CLASS = /^[\x20-\x7E\p{L}\p{M}\p{N}\p{P}\p{S}]+$/u;
// RFC 5892 / RFC 8264 U-label repertoire, approximated: lower-case letters and
// digits (Lu is unstable under case folding, hence not PVALID), marks, LDH, dots.
const ULABEL_CLASS = /^[a-z0-9.\-\p{Ll}\p{Lo}\p{Lm}\p{Nd}\p{Mn}\p{Mc}]+$/u;
// Disallowed in every class: IgnorableProperties (RFC 8264 §9.13, which covers
// the noncharacters via Cn too) and OldHangulJamo (§9.9, conjoining jamo that
// NFC did not compose into a syllable).
const IGNORABLE_OR_JAMO = /[\p{Default_Ignorable_Code_Point}\u1100-\u11FF\uA960-\uA97F\uD7B0-\uD7FF]/u;
// A label that starts or ends with '-' or has "--" in positions 3 and 4.
const ULABEL_HYPHENS = /(?:^|\.)-|-(?:\.|$)|(?:^|\.)[^.]{2}--/u;
const LOCAL_SPECIALS = /["&'/:<>@]/;
// RFC 8265 §4.2.2: map non-ASCII spaces to U+0020 in OpaqueString.
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]/g;
// RFC 7622 §3.2: U+3002, U+FF0E and U+FF61 are label separators like '.'.
const IDEOGRAPHIC_DOTS = /[\u3002\uFF0E\uFF61]/g;
// RFC 3986 §3.2.2 dec-octet: no leading zeros, no hex or octal forms.
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** RFC 8264 §9.17 HasCompat, for a string already in NFC: any compatibility decomposition changes NFKC. */
const hasCompat = (nfc: string): boolean => nfc.normalize('NFKC') !== nfc;
const octets = (s: string): number => Buffer.byteLength(s, 'utf8');

// ---------------------------------------------------------------- localpart

/** RFC 7622 §3.3: PRECIS UsernameCaseMapped (RFC 8265 §3.3) plus the §3.3.1 exclusions. */
function prepLocal(raw: string): string | JidError {
  const n = raw.length;
  if (n === 0) return E_LOCAL_EMPTY;
  let upper = false;
  for (let i = 0; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (c >= 0x80) return prepLocalUnicode(raw);
    const k = LOCAL_ASCII[c];
    if (k === L_UPPER) upper = true;
    else if (k === L_BAD) return E_LOCAL_CHAR;
    else if (k === L_SPECIAL) return E_LOCAL_SPECIAL;
  }
  if (n > MAX_OCTETS) return E_LOCAL_LONG;
  return upper ? raw.toLowerCase() : raw;
}

function prepLocalUnicode(raw: string): string | JidError {
  if (raw.length > MAX_RAW_UNITS) return E_LOCAL_LONG;
  // RFC 8265 §3.3.2 enforcement order: width mapping, case mapping
  // (Unicode toLowerCase, *not* case folding: ß stays ß), NFC.
  const s = widthMap(raw).toLowerCase().normalize('NFC');
  if (s.length === 0) return E_LOCAL_EMPTY;
  if (!IDENTIFIER_CLASS.test(s) || IGNORABLE_OR_JAMO.test(s) || hasCompat(s)) return E_LOCAL_CHAR;
  // After width mapping, since a full-width ＠ becomes '@'.
  if (LOCAL_SPECIALS.test(s)) return E_LOCAL_SPECIAL;
  if (octets(s) > MAX_OCTETS) return E_LOCAL_LONG;
  return s;
}

// ------------------------------------------------------------- resourcepart

/** RFC 7622 §3.4: PRECIS OpaqueString (RFC 8265 §4.2). Case is preserved. */
function prepResource(raw: string): string | JidError {
  const n = raw.length;
  if (n === 0) return E_RESOURCE_EMPTY;
  for (let i = 0; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (c >= 0x7f) return c === 0x7f ? E_RESOURCE_CHAR : prepResourceUnicode(raw);
    if (c < 0x20) return E_RESOURCE_CHAR;
  }
  // Printable ASCII, including spaces anywhere — OpaqueString allows them. RFC
  // 7622 §3.5 lists "juliet@example.com/ foo" as invalid, but no rule of the
  // profile forbids a leading space, and refusing an address peers accept would
  // lose messages; we accept it.
  if (n > MAX_OCTETS) return E_RESOURCE_LONG;
  return raw;
}

function prepResourceUnicode(raw: string): string | JidError {
  if (raw.length > MAX_RAW_UNITS) return E_RESOURCE_LONG;
  // RFC 8265 §4.2.2: no width or case mapping; non-ASCII spaces become U+0020; NFC.
  const s = raw.replace(NON_ASCII_SPACE, ' ').normalize('NFC');
  if (s.length === 0) return E_RESOURCE_EMPTY;
  if (!FREEFORM_CLASS.test(s) || IGNORABLE_OR_JAMO.test(s)) return E_RESOURCE_CHAR;
  if (octets(s) > MAX_OCTETS) return E_RESOURCE_LONG;
  return s;
}

// --------------------------------------------------------------- domainpart

/**
 * RFC 7622 §3.2. The canonical form is the one a user reads: lower case, and
 * U-labels rather than A-labels ("bücher.example", not "xn--bcher-kva.example"),
 * so that it equals what clients display and what a domain in the config file
 * normalises to. An A-label on the wire is converted to its U-label, so both
 * spellings compare equal. Use node:url's domainToASCII at the DNS edge.
 */
function prepDomain(raw: string): string | JidError {
  let d = raw;
  const n = d.length;
  if (n === 0) return E_DOMAIN_EMPTY;
  // RFC 7622 §3.2: a trailing label separator is stripped before any other
  // canonicalisation step — one only; "example.com.." keeps an empty label.
  const last = d.charCodeAt(n - 1);
  if (last === 0x2e || last === 0x3002 || last === 0xff0e || last === 0xff61) {
    d = d.slice(0, n - 1);
    if (d.length === 0) return E_DOMAIN_EMPTY;
  }
  if (d.charCodeAt(0) === 0x5b /* [ */) return prepIpLiteral(d);

  for (let i = 0; i < d.length; i++) {
    if (d.charCodeAt(i) >= 0x80) return prepDomainUnicode(d);
  }
  return prepDomainAscii(d, true);
}

// scanLdh result flags
const F_UPPER = 1;
const F_ALABEL = 2;
const F_NUMERIC_TLD = 4;

/** One pass over an ASCII host name: NR-LDH labels (A-labels flagged), lengths, hyphens. */
function scanLdh(d: string): number | JidError {
  const n = d.length;
  if (n > MAX_OCTETS) return E_DOMAIN_LONG;
  let flags = 0;
  let start = 0;
  let digitsOnly = true;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? d.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      const len = i - start;
      if (len === 0) return E_DOMAIN_LABEL_EMPTY;
      if (len > MAX_LABEL) return E_DOMAIN_LABEL_LONG;
      if (d.charCodeAt(start) === 0x2d || d.charCodeAt(i - 1) === 0x2d) return E_DOMAIN_HYPHEN;
      // RFC 5891 §4.2.3.1: "--" in positions 3 and 4 marks a reserved label;
      // of those only A-labels ("xn--") are allowed.
      if (len >= 4 && d.charCodeAt(start + 2) === 0x2d && d.charCodeAt(start + 3) === 0x2d) {
        if ((d.charCodeAt(start) | 0x20) !== 0x78 || (d.charCodeAt(start + 1) | 0x20) !== 0x6e) return E_DOMAIN_HYPHEN;
        flags |= F_ALABEL;
      }
      if (i === n && digitsOnly) flags |= F_NUMERIC_TLD;
      start = i + 1;
      digitsOnly = true;
    } else if (c >= 0x61 && c <= 0x7a) {
      digitsOnly = false;
    } else if (c >= 0x30 && c <= 0x39) {
      // digit: keeps digitsOnly
    } else if (c === 0x2d) {
      digitsOnly = false;
    } else if (c >= 0x41 && c <= 0x5a) {
      digitsOnly = false;
      flags |= F_UPPER;
    } else {
      return E_DOMAIN_CHAR;
    }
  }
  return flags;
}

function prepDomainAscii(d: string, allowIpv4: boolean): string | JidError {
  const flags = scanLdh(d);
  if (typeof flags !== 'number') return flags;
  // RFC 3696 §2: a top-level label is never all-numeric, so such a name must be
  // an IPv4 address (RFC 7622 §3.2 allows IPv4address from RFC 3986).
  if (flags & F_NUMERIC_TLD) return allowIpv4 && IPV4.test(d) ? d : E_DOMAIN_NUMERIC;
  const lower = flags & F_UPPER ? d.toLowerCase() : d;
  return flags & F_ALABEL ? fromALabels(lower) : lower;
}

/** An ASCII name with A-labels: canonical form is its U-label spelling, which must round-trip. */
function fromALabels(ascii: string): string | JidError {
  const u = domainToUnicode(ascii);
  if (u === '' || !hasNonAscii(u)) return E_DOMAIN_IDNA; // e.g. "xn--abc-" decodes to plain "abc"
  return checkULabels(u, ascii);
}

function prepDomainUnicode(raw: string): string | JidError {
  if (raw.length > MAX_RAW_UNITS) return E_DOMAIN_LONG;
  // RFC 7622 §3.2.2, following RFC 5895: width mapping, lower case, NFC, and the
  // ideographic full stops as label separators.
  const s = widthMap(raw).toLowerCase().normalize('NFC').replace(IDEOGRAPHIC_DOTS, '.');
  // Full-width ASCII ("ｅｘａｍｐｌｅ.com") maps to plain ASCII; IP literals must be written in ASCII.
  if (!hasNonAscii(s)) return prepDomainAscii(s, false);
  if (s.includes('xn--')) {
    // A-labels mixed with U-labels: check the U-labels' repertoire here, then
    // go through the all-ASCII form, which converts every label to a U-label.
    if (!ULABEL_CLASS.test(s) || IGNORABLE_OR_JAMO.test(s) || hasCompat(s)) return E_DOMAIN_CHAR;
    const ascii = domainToASCII(s);
    return ascii === '' ? E_DOMAIN_IDNA : prepDomainAscii(ascii, false);
  }
  return checkULabels(s, undefined);
}

/**
 * A prepared Unicode domain: check the repertoire ourselves (node:url follows
 * UTS #46, which maps or admits far more than IDNA2008, e.g. emoji and ligatures),
 * then let node:url do Punycode, CheckBidi and CheckJoiners, and require a
 * round trip so the result is stable: parsing the canonical form yields itself.
 */
function checkULabels(s: string, expectedAscii: string | undefined): string | JidError {
  if (!ULABEL_CLASS.test(s) || IGNORABLE_OR_JAMO.test(s) || hasCompat(s)) return E_DOMAIN_CHAR;
  // RFC 5891 §4.2.3.1 on the U-label itself: the A-label ("xn---bcher-…") hides these.
  if (ULABEL_HYPHENS.test(s)) return E_DOMAIN_HYPHEN;
  const ascii = domainToASCII(s);
  if (ascii === '') return E_DOMAIN_IDNA;
  if (expectedAscii !== undefined && ascii !== expectedAscii) return E_DOMAIN_IDNA;
  const flags = scanLdh(ascii);
  if (typeof flags !== 'number') return flags;
  if (flags & F_NUMERIC_TLD) return E_DOMAIN_NUMERIC;
  if (domainToUnicode(ascii) !== s) return E_DOMAIN_IDNA;
  if (octets(s) > MAX_OCTETS) return E_DOMAIN_LONG;
  return s;
}

/** RFC 7622 §3.2 / RFC 3986 §3.2.2 IP-literal, IPv6 only; canonical form is RFC 5952's (via node:url). */
function prepIpLiteral(d: string): string | JidError {
  if (d.length > 64 || d.charCodeAt(d.length - 1) !== 0x5d /* ] */) return E_DOMAIN_IP6;
  const inner = d.slice(1, -1);
  // node:net accepts zone ids ("fe80::1%eth0"); those are local to a host and
  // have no place in an address that crosses servers.
  if (!isIPv6(inner) || inner.includes('%')) return E_DOMAIN_IP6;
  const canonical = domainToASCII(d);
  return canonical === '' ? E_DOMAIN_IP6 : canonical;
}

function hasNonAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return true;
  return false;
}

// ------------------------------------------------------------------ the API

/** Parse and normalise a JID (RFC 7622 §3.1 split, then each part's profile). */
export function parseJid(raw: string): Jid | JidError {
  if (raw.length === 0) return E_EMPTY;
  // RFC 7622 §3.1: the first '/' starts the resourcepart (which may itself
  // contain '/' and '@'); then the first '@' before it ends the localpart.
  const slash = raw.indexOf('/');
  let at = raw.indexOf('@');
  if (slash >= 0 && at > slash) at = -1;

  let local = '';
  if (at >= 0) {
    const l = prepLocal(raw.slice(0, at));
    if (typeof l !== 'string') return l;
    local = l;
  }
  const domain = prepDomain(raw.slice(at + 1, slash >= 0 ? slash : raw.length));
  if (typeof domain !== 'string') return domain;
  let resource = '';
  if (slash >= 0) {
    const r = prepResource(raw.slice(slash + 1));
    if (typeof r !== 'string') return r;
    resource = r;
  }
  return { local, domain, resource };
}

export function isJidError(x: Jid | JidError): x is JidError {
  return 'error' in x;
}

/** local@domain/resource, leaving out absent parts. */
export function jidToString(j: Jid): string {
  let s = j.local === '' ? j.domain : `${j.local}@${j.domain}`;
  if (j.resource !== '') s = `${s}/${j.resource}`;
  return s;
}

export function bareJid(j: Jid): Jid {
  return j.resource === '' ? j : { local: j.local, domain: j.domain, resource: '' };
}

export function bareString(j: Jid): string {
  return j.local === '' ? j.domain : `${j.local}@${j.domain}`;
}

/** Parts are normalised, so equality is plain string equality (RFC 7622 §3.2–3.4). */
export function jidEquals(a: Jid, b: Jid): boolean {
  return a.local === b.local && a.domain === b.domain && a.resource === b.resource;
}

/** Build a JID from parts that are already normalised. No checks. */
export function makeJid(local: string, domain: string, resource = ''): Jid {
  return { local, domain, resource };
}

export function normalizeLocalpart(raw: string): string | undefined {
  const r = prepLocal(raw);
  return typeof r === 'string' ? r : undefined;
}

export function normalizeResourcepart(raw: string): string | undefined {
  const r = prepResource(raw);
  return typeof r === 'string' ? r : undefined;
}

export function normalizeDomainpart(raw: string): string | undefined {
  const r = prepDomain(raw);
  return typeof r === 'string' ? r : undefined;
}
