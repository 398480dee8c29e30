// Aho-Corasick over code points: one automaton for every keyword of every keyword rule.
//
// Layout, chosen for a large alphabet (thousands of distinct Han characters) and a small number
// of children per state:
//   - code points are first mapped to dense symbols (1..K; 0 = "in no keyword", which sends the
//     automaton straight back to the root without a lookup);
//   - the root has a dense transition table over all symbols (most steps in Chinese text start
//     there or fall back to it);
//   - every other state keeps its edges sorted by symbol in flat Int32Arrays (linear search for
//     few edges, binary search for many), plus a failure link and a dictionary ("output") link.
// Everything is typed arrays: a 10,000-keyword automaton is a few MB and allocates nothing per scan.

/** States with at most this many children are searched linearly; others through the hash. */
const LINEAR_EDGES = 4;

function hash(state: number, sym: number): number {
  const h = Math.imul(state, 0x9e3779b1) ^ Math.imul(sym, 0x85ebca77);
  return h ^ (h >>> 15);
}

export interface KeywordSink {
  /** Pattern `pattern` ends at folded index `end` (inclusive). */
  onPattern(pattern: number, end: number): void;
}

export class AhoCorasick {
  private constructor(
    /** BMP code point → symbol (0 = not in any pattern). */
    private readonly symBmp: Int32Array,
    private readonly symAstral: ReadonlyMap<number, number>,
    private readonly rootNext: Int32Array,
    private readonly edgeStart: Int32Array,
    private readonly edgeSym: Int32Array,
    private readonly edgeNext: Int32Array,
    private readonly fail: Int32Array,
    /** Pattern ending exactly at this state, or -1. */
    private readonly outPattern: Int32Array,
    /** Nearest proper suffix state with an outPattern, or 0 (the root never has one). */
    private readonly outLink: Int32Array,
    readonly patternCount: number,
  ) {
    // Open-addressing hash of the edges of states with many children (the depth-1 states of a
    // Chinese keyword list have dozens): one or two probes instead of a binary search.
    let size = 16;
    let wide = 0;
    for (let s = 1; s < fail.length; s++) if (edgeStart[s + 1]! - edgeStart[s]! > LINEAR_EDGES) wide += edgeStart[s + 1]! - edgeStart[s]!;
    while (size < wide * 4) size *= 2; // load ≤ 1/4: a miss (the common case) ends in ~1.4 probes
    this.hashMask = size - 1;
    this.hashState = new Int32Array(size).fill(-1);
    this.hashSym = new Int32Array(size);
    this.hashNext = new Int32Array(size);
    for (let s = 1; s < fail.length; s++) {
      if (edgeStart[s + 1]! - edgeStart[s]! <= LINEAR_EDGES) continue;
      for (let e = edgeStart[s]!; e < edgeStart[s + 1]!; e++) {
        let h = hash(s, edgeSym[e]!) & this.hashMask;
        while (this.hashState[h] !== -1) h = (h + 1) & this.hashMask;
        this.hashState[h] = s;
        this.hashSym[h] = edgeSym[e]!;
        this.hashNext[h] = edgeNext[e]!;
      }
    }
  }

  private readonly hashMask: number;
  private readonly hashState: Int32Array;
  private readonly hashSym: Int32Array;
  private readonly hashNext: Int32Array;

  get stateCount(): number {
    return this.fail.length;
  }

  /** Approximate bytes held by the automaton's tables. */
  get byteSize(): number {
    return (
      this.symBmp.byteLength +
      this.symAstral.size * 48 +
      this.rootNext.byteLength +
      this.edgeStart.byteLength +
      this.edgeSym.byteLength +
      this.edgeNext.byteLength +
      this.fail.byteLength +
      this.outPattern.byteLength +
      this.outLink.byteLength +
      this.hashState.byteLength * 3
    );
  }

  /**
   * Builds the automaton. Patterns are non-empty code point sequences; pattern i is reported as i.
   * Duplicate patterns are the caller's business (the policy deduplicates them first); a duplicate
   * here is reported under its first index only.
   */
  static build(patterns: readonly (readonly number[])[]): AhoCorasick {
    // 1. Alphabet.
    const symBmp = new Int32Array(0x10000);
    const symAstral = new Map<number, number>();
    let symbols = 0;
    const symOf = (cp: number): number => {
      if (cp < 0x10000) {
        let s = symBmp[cp] ?? 0;
        if (s === 0) symBmp[cp] = s = ++symbols;
        return s;
      }
      let s = symAstral.get(cp);
      if (s === undefined) symAstral.set(cp, (s = ++symbols));
      return s;
    };
    const encoded = patterns.map((p) => p.map(symOf));

    // 2. Trie. Children of the root in a dense table; of other states in small arrays.
    const rootNext = new Int32Array(symbols + 1);
    const children: number[][] = [[]]; // flat [sym, next, sym, next, …] per state
    const outPattern: number[] = [-1];
    const childOf = (state: number, sym: number): number => {
      if (state === 0) return rootNext[sym] ?? 0;
      const c = children[state] ?? [];
      for (let k = 0; k < c.length; k += 2) if (c[k] === sym) return c[k + 1] ?? 0;
      return 0;
    };
    encoded.forEach((syms, index) => {
      if (syms.length === 0) throw new Error(`pattern ${index} is empty`);
      let state = 0;
      for (const sym of syms) {
        let next = childOf(state, sym);
        if (next === 0) {
          next = children.length;
          children.push([]);
          outPattern.push(-1);
          if (state === 0) rootNext[sym] = next;
          else children[state]?.push(sym, next);
        }
        state = next;
      }
      if (outPattern[state] === -1) outPattern[state] = index;
    });

    // 3. Flatten the edges, sorted by symbol, so lookups can binary-search.
    const stateCount = children.length;
    const edgeStart = new Int32Array(stateCount + 1);
    let edges = 0;
    for (let s = 0; s < stateCount; s++) {
      edgeStart[s] = edges;
      if (s !== 0) edges += (children[s]?.length ?? 0) / 2;
    }
    edgeStart[stateCount] = edges;
    const edgeSym = new Int32Array(edges);
    const edgeNext = new Int32Array(edges);
    for (let s = 1; s < stateCount; s++) {
      const c = children[s] ?? [];
      const pairs: [number, number][] = [];
      for (let k = 0; k < c.length; k += 2) pairs.push([c[k] ?? 0, c[k + 1] ?? 0]);
      pairs.sort((a, b) => a[0] - b[0]);
      let at = edgeStart[s] ?? 0;
      for (const [sym, next] of pairs) {
        edgeSym[at] = sym;
        edgeNext[at] = next;
        at++;
      }
    }

    // 4. Failure and output links, breadth first.
    const fail = new Int32Array(stateCount);
    const outLink = new Int32Array(stateCount);
    const out = Int32Array.from(outPattern);
    const ac = new AhoCorasick(symBmp, symAstral, rootNext, edgeStart, edgeSym, edgeNext, fail, out, outLink, patterns.length);
    const queue = new Int32Array(stateCount);
    let head = 0;
    let tail = 0;
    for (let sym = 1; sym <= symbols; sym++) {
      const child = rootNext[sym] ?? 0;
      if (child !== 0) queue[tail++] = child; // depth 1: fail = root, outLink = 0
    }
    while (head < tail) {
      const s = queue[head++] ?? 0;
      for (let e = edgeStart[s] ?? 0, end = edgeStart[s + 1] ?? 0; e < end; e++) {
        const sym = edgeSym[e] ?? 0;
        const child = edgeNext[e] ?? 0;
        let f = fail[s] ?? 0;
        let target = ac.next(f, sym);
        while (target < 0) {
          f = fail[f] ?? 0;
          target = ac.next(f, sym);
        }
        fail[child] = target;
        outLink[child] = (out[target] ?? -1) >= 0 ? target : (outLink[target] ?? 0);
        queue[tail++] = child;
      }
    }
    return ac;
  }

  /** Goto function: the next state, or -1 when a non-root state has no such edge. */
  private next(state: number, sym: number): number {
    if (state === 0) return this.rootNext[sym]!;
    let lo = this.edgeStart[state]!;
    const hi = this.edgeStart[state + 1]!;
    if (hi - lo <= LINEAR_EDGES) {
      for (; lo < hi; lo++) if (this.edgeSym[lo] === sym) return this.edgeNext[lo]!;
      return -1;
    }
    return this.hashed(state, sym);
  }

  private hashed(state: number, sym: number): number {
    const mask = this.hashMask;
    const hs = this.hashState;
    let h = hash(state, sym) & mask;
    for (;;) {
      const k = hs[h]!;
      if (k === -1) return -1;
      if (k === state && this.hashSym[h] === sym) return this.hashNext[h]!;
      h = (h + 1) & mask;
    }
  }

  /** Reports every (possibly overlapping) occurrence of every pattern in cps[0..length). */
  scan(cps: Int32Array, length: number, sink: KeywordSink): void {
    const symBmp = this.symBmp;
    const fail = this.fail;
    const outPattern = this.outPattern;
    const outLink = this.outLink;
    const rootNext = this.rootNext;
    const edgeStart = this.edgeStart;
    const edgeSym = this.edgeSym;
    const edgeNext = this.edgeNext;
    let state = 0;
    // The goto function is inlined here: this loop runs for every character of every message.
    for (let j = 0; j < length; j++) {
      const cp = cps[j]!;
      const sym = cp < 0x10000 ? symBmp[cp]! : (this.symAstral.get(cp) ?? 0);
      if (sym === 0) {
        state = 0;
        continue;
      }
      for (;;) {
        if (state === 0) {
          state = rootNext[sym]!;
          break;
        }
        let lo = edgeStart[state]!;
        const hi = edgeStart[state + 1]!;
        let t = -1;
        if (hi - lo <= LINEAR_EDGES) {
          for (; lo < hi; lo++) {
            if (edgeSym[lo] === sym) {
              t = edgeNext[lo]!;
              break;
            }
          }
        } else {
          t = this.hashed(state, sym);
        }
        if (t >= 0) {
          state = t;
          break;
        }
        state = fail[state]!;
      }
      if (state === 0) continue;
      let o = outPattern[state]! >= 0 ? state : outLink[state]!;
      while (o !== 0) {
        sink.onPattern(outPattern[o]!, j);
        o = outLink[o]!;
      }
    }
  }
}
