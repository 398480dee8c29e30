// Throughput of the audit policy engine (src/audit/policy) on one core:
//   node --import tsx bench/scanner-bench.ts [messages]
// A generated corpus of ~100-character mixed Chinese/English messages (some with keywords,
// evasions, numbers, e-mail addresses, tokens) is scanned by a policy of 10,000 generated
// keywords in 10 rules + one rule per detector (all 8) + 5 regex rules. Prints compile time,
// memory, MB/s (UTF-8 bytes of bodies) and messages/s, overall and per stage. Deterministic
// (seeded) so runs compare; ~12 s on an idle 2-core machine.
import { availableParallelism, loadavg } from 'node:os';
import { detect, DETECTOR_NAMES } from '../src/audit/policy/detectors.ts';
import { NormalisedBuffer, normaliseInto } from '../src/audit/policy/normalise.ts';
import { compilePolicy, type Rule, type ScanContext } from '../src/audit/policy/policy.ts';

const MESSAGES = Number(process.argv[2] ?? 100_000);
const KEYWORDS = 10_000;

// ---- deterministic generator ----
let seed = 0x9e3779b9;
function rand(): number {
  // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)] as T;
const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));

const HAN = Array.from(
  '的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明社已部力机全吃门安重由新情政变外各它关东西物北最期电给公式直题问结车间报气代员院市即设却知利总资产计展性保名业比件物入水决少数认位常区通向论化道山电相战',
);
const HAN_TRAD = Array.from('們為這國說時會過來學對後發經頭見動長將實點關東車問題結報氣員區論戰電麼與');
const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'to', 'vi', 'ze', 'pra', 'stel', 'gor', 'fin', 'dex', 'qu', 'bran', 'tor', 'ly', 'wen', 'chi'];
const WORDS = 'the of and to in is you that it he was for on are as with his they at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part meeting project report budget please send review tomorrow today thanks team update plan server release customer order price contract'.split(' ');

function hanWord(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += pick(HAN);
  return s;
}
function latinWord(): string {
  let s = '';
  const n = int(2, 4);
  for (let i = 0; i < n; i++) s += pick(SYLLABLES);
  return s;
}

const keywords: string[] = [];
const seen = new Set<string>();
while (keywords.length < KEYWORDS) {
  // Han keywords of 3–4 common characters (random 2-character words from a 400-character pool
  // would hit one window in a hundred — far more often than real keyword lists do).
  const k = rand() < 0.6 ? hanWord(int(3, 4)) : latinWord();
  if (!seen.has(k)) {
    seen.add(k);
    keywords.push(k);
  }
}

function evade(k: string): string {
  switch (int(0, 4)) {
    case 0:
      return Array.from(k).join('\u200b');
    case 1:
      return Array.from(k).join(' ');
    case 2:
      return k.toUpperCase().replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)); // full-width
    case 3:
      return k.replace(/o/g, 'о').replace(/a/g, 'а'); // Cyrillic
    default:
      return k;
  }
}

function luhnComplete(prefix: string): string {
  for (let d = 0; d < 10; d++) {
    const s = prefix + d;
    let sum = 0;
    for (let i = 0; i < s.length; i++) {
      let v = Number(s[s.length - 1 - i]);
      if (i % 2 === 1) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
      sum += v;
    }
    if (sum % 10 === 0) return s;
  }
  return prefix + '0';
}

/**
 * One ~100-character message. Per segment (≈10 per message): Chinese phrases, a Traditional
 * character, English words, numbers; rarely a keyword (often evaded), an e-mail address, a
 * mobile number, a card number, a URL, a token. About 2% of messages carry a keyword and 5% a
 * detector hit; the rest should be allowed — the common case the hot path must be fast for.
 */
function message(): string {
  let s = '';
  while (s.length < 90) {
    const r = rand();
    if (r < 0.45) s += hanWord(int(4, 12)) + pick(['，', '。', '', '！', ' ']);
    else if (r < 0.55) s += pick(HAN_TRAD) + hanWord(int(1, 3));
    else if (r < 0.93) s += pick(WORDS) + ' ';
    else if (r < 0.96) s += String(int(1, 99999)) + ' ';
    else if (r < 0.962) s += evade(pick(keywords)) + ' ';
    else if (r < 0.964) s += `${pick(WORDS)}.${pick(WORDS)}@example.com `;
    else if (r < 0.966) s += `1${int(3, 9)}${String(int(0, 999999999)).padStart(9, '0')} `;
    else if (r < 0.967) s += luhnComplete(`4${String(int(0, 99999999999999)).padStart(14, '0')}`) + ' ';
    else if (r < 0.97) s += 'https://example.com/path/to/page?id=42 ';
    else if (r < 0.9705) s += 'token: Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5 ';
    else s += pick(WORDS) + ' ';
  }
  return s;
}

// ---- policy ----
const actions = ['flag', 'flag', 'flag', 'redact', 'hold', 'block'] as const;
const rules: Rule[] = [];
for (let i = 0; i < 10; i++) {
  rules.push({
    id: `kw${i}`,
    name: `keywords ${i}`,
    type: 'keywords',
    keywords: keywords.slice(i * 1000, (i + 1) * 1000),
    action: actions[i % actions.length] ?? 'flag',
    severity: 'medium',
    enabled: true,
    scope: i === 9 ? { directions: ['outbound'] } : {},
  });
}
for (const d of DETECTOR_NAMES) {
  rules.push({ id: `det-${d}`, name: d, type: 'detector', detector: d, action: 'redact', severity: 'high', enabled: true, scope: {} });
}
const patterns = ['project\\s+(?:x|zeus)', '\\bconfidential\\b', '内部\\s*资料', '\\b[A-Z]{3}-\\d{4}\\b', 'salary|bonus'];
patterns.forEach((pattern, i) => {
  rules.push({ id: `re${i}`, name: `regex ${i}`, type: 'regex', pattern, flags: 'i', action: 'flag', severity: 'low', enabled: true, scope: {} });
});

const corpus = Array.from({ length: MESSAGES }, message);
const bytes = corpus.reduce((n, m) => n + Buffer.byteLength(m), 0);
const ctx: ScanContext = { from: 'alice@example.com', to: 'bob@example.com', direction: 'internal', type: 'chat' };

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

gc();
const memBefore = process.memoryUsage();
const t0 = performance.now();
const policy = compilePolicy(rules, 1);
const compileMs = performance.now() - t0;
gc();
const memAfter = process.memoryUsage();
// Typed arrays live outside the JS heap (arrayBuffers); count both.
const policyBytes = memAfter.heapUsed - memBefore.heapUsed + (memAfter.arrayBuffers - memBefore.arrayBuffers);

/**
 * Times fn over the corpus after a warm-up. Prints throughput by wall clock and by process CPU
 * time: on a shared machine the wall clock also counts time spent waiting for a core, so the CPU
 * figure is the steadier one (it still includes GC threads).
 */
function time(label: string, fn: (m: string) => unknown, messages: readonly string[] = corpus): void {
  const total = messages.reduce((n, m) => n + Buffer.byteLength(m), 0);
  for (let i = 0; i < Math.min(20_000, messages.length); i++) fn(messages[i] ?? ''); // warm-up
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  for (const m of messages) fn(m);
  const wall = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu0);
  const cpu = (used.user + used.system) / 1e6;
  const fmt = (s: number): string =>
    `${(total / 1e6 / s).toFixed(1).padStart(6)} MB/s ${Math.round(messages.length / s).toLocaleString('en-US').padStart(10)} msgs/s`;
  console.log(`${label.padEnd(34)} wall ${fmt(wall)}   cpu ${fmt(cpu)}`);
}

console.log(`node ${process.version}; ${corpus.length.toLocaleString('en-US')} messages, ${(bytes / 1e6).toFixed(1)} MB UTF-8, avg ${(corpus.reduce((n, m) => n + m.length, 0) / corpus.length).toFixed(0)} chars`);
console.log(`policy: ${rules.length} rules, ${policy.stats.keywords.toLocaleString('en-US')} keywords, ${policy.stats.automatonStates.toLocaleString('en-US')} automaton states, ${(policy.stats.automatonBytes / 1e6).toFixed(1)} MB of tables`);
console.log(`compile: ${compileMs.toFixed(0)} ms; memory held by the policy ≈ ${(policyBytes / 1e6).toFixed(1)} MB (heap + typed arrays)${(globalThis as { gc?: unknown }).gc === undefined ? ' (run with --expose-gc for an exact figure)' : ''}`);

const verdicts = new Map<string, number>();
for (const m of corpus) {
  const v = policy.scan(m, ctx).verdict;
  verdicts.set(v, (verdicts.get(v) ?? 0) + 1);
}
console.log(`verdicts: ${[...verdicts].map(([v, n]) => `${v} ${((100 * n) / corpus.length).toFixed(1)}%`).join(', ')}`);
time('full scan (all rules)', (m) => policy.scan(m, ctx));
const buf = new NormalisedBuffer();
time('  normalisation only', (m) => normaliseInto(m, buf));
const kwOnly = compilePolicy(rules.filter((r) => r.type === 'keywords'), 2);
time('  keywords only (normalise + AC)', (m) => kwOnly.scan(m, ctx));
const detOnly = compilePolicy(rules.filter((r) => r.type === 'detector'), 3);
time('  detectors only (all 8)', (m) => detOnly.scan(m, ctx));
const reOnly = compilePolicy(rules.filter((r) => r.type === 'regex'), 4);
time('  regex only (5 rules, re2js)', (m) => reOnly.scan(m, ctx));
const sample = corpus.slice(0, 50_000);
for (const d of DETECTOR_NAMES) time(`    detector ${d}`, (m) => detect(d, m), sample);
// Long messages: 1,000 bodies of ~10 KB (100 corpus messages each).
const long = Array.from({ length: 1000 }, (_, i) => corpus.slice((i * 100) % corpus.length, ((i * 100) % corpus.length) + 100).join('\n'));
time('full scan, 10 KB messages', (m) => policy.scan(m, ctx), long);

gc();
const mem = process.memoryUsage();
console.log(`memory: rss ${(mem.rss / 1e6).toFixed(0)} MB, heap used ${(mem.heapUsed / 1e6).toFixed(0)} MB (corpus included); load average ${loadavg()[0]?.toFixed(1)} on ${availableParallelism()} cores`);
