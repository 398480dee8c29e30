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
  ) {}

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
      this.outLink.byteLength
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
    if (state === 0) return this.rootNext[sym] ?? 0;
    const edgeSym = this.edgeSym;
    let lo = this.edgeStart[state] ?? 0;
    let hi = this.edgeStart[state + 1] ?? 0;
    if (hi - lo <= 8) {
      for (; lo < hi; lo++) if (edgeSym[lo] === sym) return this.edgeNext[lo] ?? 0;
      return -1;
    }
    hi--;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = edgeSym[mid] ?? 0;
      if (v === sym) return this.edgeNext[mid] ?? 0;
      if (v < sym) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Reports every (possibly overlapping) occurrence of every pattern in cps[0..length). */
  scan(cps: Int32Array, length: number, sink: KeywordSink): void {
    const symBmp = this.symBmp;
    const fail = this.fail;
    const outPattern = this.outPattern;
    const outLink = this.outLink;
    let state = 0;
    for (let j = 0; j < length; j++) {
      const cp = cps[j] ?? 0;
      const sym = cp < 0x10000 ? (symBmp[cp] ?? 0) : (this.symAstral.get(cp) ?? 0);
      if (sym === 0) {
        state = 0;
        continue;
      }
      let t = this.next(state, sym);
      while (t < 0) {
        state = fail[state] ?? 0;
        t = this.next(state, sym);
      }
      state = t;
      if (state === 0) continue;
      let o = (outPattern[state] ?? -1) >= 0 ? state : (outLink[state] ?? 0);
      while (o !== 0) {
        sink.onPattern(outPattern[o] ?? 0, j);
        o = outLink[o] ?? 0;
      }
    }
  }
}
