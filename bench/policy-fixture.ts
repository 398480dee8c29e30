// A full policy for benchmarks: 10,000 mixed Chinese/English keywords over 20 rules, every
// built-in detector, and a few regexes — generated deterministically (same seed, same policy).
let seed = 42;
function rand(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
}
const HAN = '的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持音';
const WORDS = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu'.split(' ');

function keyword(i: number): string {
  if (i % 2 === 0) {
    const n = 2 + Math.floor(rand() * 3);
    let w = '';
    for (let k = 0; k < n; k++) w += HAN[Math.floor(rand() * HAN.length)];
    return w;
  }
  return `${WORDS[Math.floor(rand() * WORDS.length)]}${WORDS[Math.floor(rand() * WORDS.length)]}${i}`;
}

export interface RuleBody {
  name: string;
  type: 'keywords' | 'regex' | 'detector';
  keywords?: string[];
  pattern?: string;
  flags?: string;
  detector?: string;
  action: 'flag' | 'redact' | 'block' | 'hold';
  severity: 'low' | 'medium' | 'high' | 'critical';
}

export function fullPolicy(keywordCount = 10_000): RuleBody[] {
  seed = 42;
  const seen = new Set<string>();
  const keywords: string[] = [];
  for (let i = 0; keywords.length < keywordCount; i++) {
    const k = keyword(i);
    if (!seen.has(k)) {
      seen.add(k);
      keywords.push(k);
    }
  }
  const rules: RuleBody[] = [];
  for (let r = 0; r < 20; r++) {
    rules.push({ name: `keywords-${r}`, type: 'keywords', keywords: keywords.slice(r * (keywordCount / 20), (r + 1) * (keywordCount / 20)), action: 'flag', severity: 'medium' });
  }
  for (const detector of ['cn_resident_id', 'credit_card', 'cn_mobile', 'email', 'iban', 'private_key', 'aws_access_key', 'secret_token']) {
    rules.push({ name: `detector-${detector}`, type: 'detector', detector, action: detector === 'credit_card' ? 'redact' : 'flag', severity: 'high' });
  }
  rules.push({ name: 'regex-project', type: 'regex', pattern: 'project\\s+(?:x|zeus)', flags: 'i', action: 'flag', severity: 'low' });
  rules.push({ name: 'regex-internal', type: 'regex', pattern: '内部\\s*资料', action: 'flag', severity: 'low' });
  return rules;
}
