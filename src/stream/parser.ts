// The streaming XML parser under every XMPP stream: raw bytes → StringDecoder → saxes → @xmpp/xml
// Elements, one per depth-1 child of the stream. It enforces RFC 6120 §11 (restricted XML,
// UTF-8 only) and a byte limit per stanza, and reports the first problem as a stream error
// (RFC 6120 §4.9.3). See ../../shared/NOTES.md for why saxes and why the StringDecoder.
//
// Cost model: saxes does the per-character work. This file does per-chunk and per-element work
// only, plus a native regex skip over the whitespace *between* stanzas, which is what lets it
// (a) bound every byte saxes could buffer at depth 0–1 and (b) drop whitespace keepalives
// without buffering them (saxes would otherwise accumulate them until the next `<`).
import { StringDecoder } from 'node:string_decoder';
import { SaxesParser, type SaxesTagNS } from 'saxes';
import { NS } from '../ns.ts';
import { Element } from '../xml.ts';
import { streamError, type StreamError, type StreamErrorCondition } from './stream-error.ts';

export interface StreamParserHandlers {
  /** The stream header: <stream:stream ...> (framing 'stream') or the <open xmlns="urn:ietf:params:xml:ns:xmpp-framing" .../> element (framing 'websocket'). attrs are the header's attributes without xmlns declarations; `namespaces` maps declared prefixes ('' for default) to URIs. */
  onStreamOpen(attrs: Record<string, string>, namespaces: Record<string, string>): void;
  /** A complete depth-1 child of the stream (stanza, <starttls/>, <auth/>...) as an Element with its own xmlns attribute set to the namespace in force (e.g. jabber:client), so it can be re-serialised standalone. For websocket framing, every top-level element except <open/> and <close/>. */
  onStanza(el: Element): void;
  /** </stream:stream> or the framing <close/>. */
  onStreamClose(): void;
  /** Fatal: called at most once, then the parser ignores all further input. */
  onError(err: StreamError): void;
}

export interface StreamParserOptions {
  framing: 'stream' | 'websocket';
  /** Largest stanza accepted, in bytes of input counted from its start tag (RFC 6120 §13.12 ¶4). */
  maxStanzaBytes: number;
  /** Content namespaces a 'stream' header may declare as its default (RFC 6120 §4.8.2). */
  contentNamespaces: readonly string[];
}

const DEFAULTS: StreamParserOptions = {
  framing: 'stream',
  maxStanzaBytes: 262_144,
  contentNamespaces: [NS.client, NS.server],
};

// Force XML 1.0 whatever the declaration says: XMPP is XML 1.0 (RFC 6120 §11.5), and 1.1 would
// admit C0 control characters.
const SAX_OPTIONS = { xmlns: true, forceXMLVersion: true, defaultXMLVersion: '1.0' } as const;
type Sax = SaxesParser<typeof SAX_OPTIONS>;

/** Thrown from inside saxes callbacks to stop it mid-chunk (error, stream end, or reset()). */
const ABORT: unique symbol = Symbol('StreamParser.abort');

// XML whitespace (XML 1.0 §2.3 production S). Sticky: matches at lastIndex, possibly empty.
const SKIP_WS = /[ \t\r\n]*/y;

const LT = 0x3c; // <
const BANG = 0x21; // !
const QUESTION = 0x3f; // ?
const OPEN_BRACKET = 0x5b; // [
const CR = 0x0d;

type Phase = 'header' | 'open' | 'done';

const NONE = 0;
const STANZA = 1;
const CLOSE = 2;
type Pending = typeof NONE | typeof STANZA | typeof CLOSE;

export class StreamParser {
  private readonly h: StreamParserHandlers;
  private readonly framing: 'stream' | 'websocket';
  private readonly max: number;
  private readonly contentNamespaces: readonly string[];

  private sax: Sax;
  private decoder = new StringDecoder('utf8');
  private phase: Phase = 'header';
  private failed = false;
  private inHandler = false;
  private received = 0;

  /** Open elements, counting the stream element itself (so a stanza's children are at depth ≥ 2). */
  private depth = 0;
  /** The element being built (a stanza or one of its descendants), or null between stanzas. */
  private cur: Element | null = null;
  /** The header's default namespace, given to every stanza that does not declare its own. */
  private contentNs = '';

  // Position bookkeeping, to turn saxes' `position` (UTF-16 index into everything it was fed)
  // into an index into the chunk being parsed. saxes holds back a trailing CR or high surrogate
  // and prepends it to the next chunk, which shifts indices by one.
  private chunk = '';
  private chunkStart = 0;
  private fed = 0;
  private carried = 0;

  // Byte accounting for the depth-1 construct in progress (a stanza, or anything else that
  // starts with `<` between stanzas): it starts at the `<` and ends at the stanza's close tag.
  private inConstruct = false;
  /** Index in `chunk` of the construct's `<`, or -1 if it started in an earlier chunk. */
  private constructAt = -1;
  /** Bytes of the construct in earlier chunks. */
  private constructBytes = 0;
  /** A depth-1 close tag saxes reported but may still reject (see onCloseTag). */
  private pending: Pending = NONE;
  private pendingEl: Element | null = null;
  /** sax.position right after the held close tag. */
  private pendingAt = 0;
  /** Index in `chunk` just after the held stanza, where the between-stanzas scan resumes. */
  private scanFrom = 0;
  /** Bytes received before the stream header was complete. */
  private headerBytes = 0;

  // websocket framing: the one top-level element of the current frame.
  private frameEl: Element | null = null;
  private frameTag: SaxesTagNS | null = null;
  private wsOpened = false;

  constructor(handlers: StreamParserHandlers, options?: Partial<StreamParserOptions>) {
    const o = { ...DEFAULTS, ...options };
    if (!Number.isSafeInteger(o.maxStanzaBytes) || o.maxStanzaBytes < 1) {
      throw new RangeError(`maxStanzaBytes must be a positive integer, got ${o.maxStanzaBytes}`);
    }
    this.h = handlers;
    this.framing = o.framing;
    this.max = o.maxStanzaBytes;
    this.contentNamespaces = o.contentNamespaces;
    this.sax = this.createSax();
  }

  /** Bytes received since the last reset (for stats). */
  get bytesSinceReset(): number {
    return this.received;
  }

  /**
   * Discards all parser state; used after STARTTLS and SASL success (RFC 6120 §5.4.3.3, §6.4.6)
   * when a new stream header follows. Called from inside a handler, it also discards the rest of
   * the chunk being parsed: RFC 6120 §5.4.3.3 requires that for data pipelined after <starttls/>,
   * and after SASL the client must wait for <success/> before sending more (§6.4.6).
   * A parser that has reported an error stays failed.
   */
  reset(): void {
    this.sax = this.createSax();
    this.decoder = new StringDecoder('utf8');
    this.phase = 'header';
    this.received = 0;
    this.depth = 0;
    this.cur = null;
    this.contentNs = '';
    this.chunk = '';
    this.chunkStart = 0;
    this.fed = 0;
    this.carried = 0;
    this.inConstruct = false;
    this.constructAt = -1;
    this.constructBytes = 0;
    this.headerBytes = 0;
    this.pending = NONE;
    this.pendingEl = null;
    this.frameEl = null;
    this.wsOpened = false;
  }

  /**
   * Feeds raw input: any slice of a TCP/TLS byte stream (framing 'stream'), or one complete
   * WebSocket text frame (framing 'websocket'). Strings are taken as already-decoded text; do not
   * mix strings with Buffers that may end inside a character. Never throws.
   */
  write(chunk: Buffer | string): void {
    if (this.failed || this.phase === 'done') return;
    const bytes = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    this.received += bytes;
    const sax = this.sax;
    try {
      if (this.framing === 'websocket') this.writeFrame(sax, chunk, bytes);
      else this.writeStream(sax, chunk, bytes);
    } catch (err) {
      if (err === ABORT) return;
      if (this.inHandler) {
        // A handler threw. saxes is now mid-chunk with the rest of the chunk unparsed, so the
        // stream cannot continue; report it rather than throw into the socket's data callback.
        this.inHandler = false;
        this.fail('internal-server-error', err instanceof Error ? err.message : String(err));
      } else {
        // saxes threw on its own (it has a few internal asserts); treat as malformed input.
        this.fail('not-well-formed', err instanceof Error ? err.message : String(err));
      }
    } finally {
      this.chunk = '';
    }
  }

  // ---------------------------------------------------------------- framing 'stream'

  private writeStream(sax: Sax, chunk: Buffer | string, bytes: number): void {
    const s = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    if (s.length === 0) {
      // Only part of a multi-byte character: the decoder holds it (at most 3 bytes).
      return;
    }
    this.chunk = s;
    this.chunkStart = this.fed + this.carried;
    if (this.phase === 'open' && !this.inConstruct) this.scanBetween(0);
    sax.write(s);
    // Mirror saxes' carry rule so the next chunk's indices line up (see `chunkStart`).
    const total = this.carried + s.length;
    const last = s.charCodeAt(s.length - 1);
    this.carried = last === CR || (last >= 0xd800 && last <= 0xdbff) ? 1 : 0;
    this.fed += total - this.carried;
    // saxes took the whole chunk without error, so a close tag it reported was well-formed.
    if (this.pending !== NONE) this.settle(sax);
    this.afterChunk(s, bytes);
  }

  /** End-of-chunk byte accounting: everything saxes may still be buffering is bounded here. */
  private afterChunk(s: string, bytes: number): void {
    if (this.phase === 'header') {
      this.headerBytes += bytes;
      if (this.headerBytes > this.max) {
        this.fail('policy-violation', `stream header exceeds the limit of ${this.max} bytes`);
      }
      return;
    }
    if (!this.inConstruct) return;
    if (this.constructAt >= 0) {
      this.constructBytes = this.constructAt === 0 ? bytes : Buffer.byteLength(s.slice(this.constructAt));
      this.constructAt = -1;
    } else {
      this.constructBytes += bytes;
    }
    if (this.constructBytes > this.max) this.tooBig();
  }

  /**
   * Between stanzas only whitespace may appear (RFC 6120 §11.7 allows it as keepalive). Skip it
   * natively from `from`; the next `<` starts a construct whose bytes are counted from here on.
   * Anything else (text, `&…`) is an error straight away, so saxes never buffers it for long.
   */
  private scanBetween(from: number): void {
    const s = this.chunk;
    SKIP_WS.lastIndex = from;
    SKIP_WS.test(s);
    const i = SKIP_WS.lastIndex;
    if (i >= s.length) return;
    if (s.charCodeAt(i) !== LT) {
      this.abort('not-well-formed', 'character data between stanzas');
    }
    const next = s.charCodeAt(i + 1);
    if (next === BANG) {
      if (s.charCodeAt(i + 2) === OPEN_BRACKET) this.abort('not-well-formed', 'CDATA between stanzas');
      this.abort('restricted-xml', 'comments and DTDs are not allowed (RFC 6120 §11.1)');
    }
    if (next === QUESTION) this.abort('restricted-xml', 'processing instructions are not allowed (RFC 6120 §11.1)');
    this.inConstruct = true;
    this.constructAt = i;
    this.constructBytes = 0;
  }

  /** Index into `chunk` of the character saxes reads next. */
  private here(sax: Sax): number {
    const i = sax.position - this.chunkStart;
    return i < 0 ? 0 : i;
  }

  private onOpenTag(sax: Sax, tag: SaxesTagNS): void {
    if (this.pending !== NONE) this.settle(sax);
    const depth = this.depth++;
    if (depth >= 2) {
      const el = new Element(tag.name);
      el.attrs = plainAttrs(tag);
      const parent = this.cur;
      if (parent !== null) {
        parent.children.push(el);
        el.parent = parent;
      }
      this.cur = el;
      return;
    }
    if (depth === 1) {
      if (!this.inConstruct) {
        // Cannot happen while scanBetween sees every `<`; keep the accounting safe regardless.
        this.inConstruct = true;
        this.constructAt = 0;
        this.constructBytes = 0;
      }
      this.cur = stanzaElement(tag, this.contentNs);
      sax.on('text', this.onTextInStanza);
      return;
    }
    this.openStream(sax, tag);
  }

  private openStream(sax: Sax, tag: SaxesTagNS): void {
    if (tag.local !== 'stream' || tag.uri !== NS.stream) {
      // RFC 6120 §4.9.3.10: a wrong streams namespace is <invalid-namespace/>; a root that is
      // not a stream header at all is XML we cannot process (§4.9.3.1).
      if (tag.local === 'stream') this.abort('invalid-namespace', `stream element must be in ${NS.stream}`);
      this.abort('bad-format', 'expected <stream:stream>');
    }
    const ns = tag.ns;
    const contentNs = ns[''] ?? '';
    if (!this.contentNamespaces.includes(contentNs)) {
      this.abort('invalid-namespace', `unsupported content namespace '${contentNs}'`);
    }
    // RFC 6120 §11.6: UTF-8 only. (Checked here rather than in an 'xmldecl' handler: see
    // preallocateHandlerSlots for why saxes handlers are kept few.)
    const encoding = sax.xmlDecl.encoding;
    if (encoding !== undefined && encoding.toLowerCase() !== 'utf-8') {
      this.abort('unsupported-encoding', `encoding '${encoding}' is not UTF-8`);
    }
    this.contentNs = contentNs;
    this.phase = 'open';
    const pos = this.here(sax);
    this.emit(sax, () => this.h.onStreamOpen(headerAttrs(tag), { ...ns }));
    this.scanBetween(pos);
  }

  private onCloseTag(sax: Sax): void {
    if (this.pending !== NONE) this.settle(sax);
    const depth = --this.depth;
    if (depth >= 2) {
      const cur = this.cur;
      this.cur = cur === null ? null : cur.parent;
      return;
    }
    // saxes reports a close tag *before* checking that its name matches (`<message></foo>`
    // reports </message>, then fails), so a depth-1 close is only held here; settle() delivers
    // it once saxes has moved past it without complaint.
    this.pendingAt = sax.position;
    if (depth === 1) {
      const el = this.cur;
      this.cur = null;
      sax.off('text');
      const end = this.here(sax);
      this.checkSize(end);
      this.inConstruct = false;
      this.constructAt = -1;
      this.constructBytes = 0;
      this.pending = STANZA;
      this.pendingEl = el;
      this.scanFrom = end;
      return;
    }
    this.pending = CLOSE;
  }

  /** Delivers the held close tag: saxes has accepted it. */
  private settle(sax: Sax): void {
    const kind = this.pending;
    const el = this.pendingEl;
    this.pending = NONE;
    this.pendingEl = null;
    if (kind === CLOSE) {
      // </stream:stream>. Anything after it is ignored: the peer is closing (RFC 6120 §4.4).
      this.phase = 'done';
      this.emit(sax, () => this.h.onStreamClose());
      throw ABORT;
    }
    if (el !== null) this.emit(sax, () => this.h.onStanza(el));
    this.scanBetween(this.scanFrom);
  }

  /**
   * Before reporting an error: a held close tag is delivered if saxes moved past it (the error
   * is about later input), dropped if not (the error is about the close tag itself).
   */
  private settleBeforeError(sax: Sax): void {
    if (this.pending === NONE) return;
    if (sax.position === this.pendingAt) {
      this.pending = NONE;
      this.pendingEl = null;
      return;
    }
    this.settle(sax);
  }

  /** Rejects a stanza ending at `end` in this chunk if it is over the limit. */
  private checkSize(end: number): void {
    const from = this.constructAt >= 0 ? this.constructAt : 0;
    // A UTF-16 unit is at most 3 bytes of UTF-8, so most stanzas need no exact count.
    if (this.constructBytes + 3 * (end - from) <= this.max) return;
    const bytes = this.constructBytes + Buffer.byteLength(this.chunk.slice(from, end));
    if (bytes > this.max) this.tooBig();
  }

  private tooBig(): never {
    this.abort('policy-violation', `stanza exceeds the limit of ${this.max} bytes`);
  }

  // An arrow property: saxes calls it unbound, and switching it on and off must not allocate.
  private readonly onTextInStanza = (text: string): void => {
    const cur = this.cur;
    if (cur !== null) cur.children.push(text);
  };

  // ---------------------------------------------------------------- framing 'websocket'

  /**
   * RFC 7395 §3.3.3: each text frame is one complete element, parsable on its own. saxes in
   * document mode is exactly that check (one root, nothing but whitespace around it, nothing left
   * open at close()), and close() re-initialises it for the next frame.
   */
  private writeFrame(sax: Sax, chunk: Buffer | string, bytes: number): void {
    if (bytes > this.max) this.tooBig();
    const s = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    SKIP_WS.lastIndex = 0;
    SKIP_WS.test(s);
    if (SKIP_WS.lastIndex === s.length) return; // an empty or whitespace-only frame carries nothing
    this.frameEl = null;
    this.frameTag = null;
    this.depth = 0;
    this.cur = null;
    sax.write(s).close();
    // Read back what the callbacks built (a method call, so TypeScript does not keep the
    // `null` it narrowed the fields to above).
    const { el, tag } = this.takeFrame();
    if (el === null || tag === null) this.abort('not-well-formed', 'frame holds no element');
    if (tag.uri === NS.framing && tag.local === 'open') {
      this.wsOpened = true;
      this.emit(sax, () => this.h.onStreamOpen(headerAttrs(tag), { ...tag.ns }));
      return;
    }
    if (!this.wsOpened) {
      if (tag.local === 'open' || tag.local === 'stream') {
        this.abort('invalid-namespace', `stream must be opened with <open xmlns='${NS.framing}'/>`);
      }
      this.abort('bad-format', `expected <open xmlns='${NS.framing}'/>`);
    }
    if (tag.uri === NS.framing && tag.local === 'close') {
      this.phase = 'done';
      this.emit(sax, () => this.h.onStreamClose());
      return;
    }
    this.emit(sax, () => this.h.onStanza(el));
  }

  private takeFrame(): { el: Element | null; tag: SaxesTagNS | null } {
    const taken = { el: this.frameEl, tag: this.frameTag };
    this.frameEl = null;
    this.frameTag = null;
    return taken;
  }

  private onOpenTagFrame(tag: SaxesTagNS): void {
    if (this.depth++ === 0) {
      // RFC 7395 §3.3.3: each element carries its own namespace; default it to jabber:client.
      this.cur = stanzaElement(tag, NS.client);
      this.frameTag = tag;
      return;
    }
    const el = new Element(tag.name);
    el.attrs = plainAttrs(tag);
    const parent = this.cur;
    if (parent !== null) {
      parent.children.push(el);
      el.parent = parent;
    }
    this.cur = el;
  }

  private onCloseTagFrame(): void {
    const cur = this.cur;
    if (--this.depth === 0) {
      this.frameEl = cur;
      this.cur = null;
    } else {
      this.cur = cur === null ? null : cur.parent;
    }
  }

  // ---------------------------------------------------------------- shared

  private createSax(): Sax {
    const sax: Sax = new SaxesParser(SAX_OPTIONS);
    preallocateHandlerSlots(sax);
    if (this.framing === 'websocket') {
      sax.on('opentag', (tag) => this.onOpenTagFrame(tag));
      sax.on('closetag', () => this.onCloseTagFrame());
      // Text outside the element is whitespace (saxes rejects anything else), so no test needed.
      sax.on('text', this.onTextInStanza);
    } else {
      sax.on('opentag', (tag) => this.onOpenTag(sax, tag));
      sax.on('closetag', () => this.onCloseTag(sax));
      // Switched on only inside a stanza: off, saxes keeps no text, so whitespace keepalives
      // between stanzas cost no memory.
      sax.on('text', this.onTextInStanza);
      sax.off('text');
    }
    // CDATA sections are allowed by RFC 6120 §11 and are plain character data.
    sax.on('cdata', this.onTextInStanza);
    // RFC 6120 §11.1: no comments, processing instructions, DTDs or entity declarations.
    // saxes never expands entities beyond the five predefined ones and character references.
    sax.on('comment', () => this.restricted(sax, 'comments are not allowed (RFC 6120 §11.1)'));
    sax.on('processinginstruction', () =>
      this.restricted(sax, 'processing instructions are not allowed (RFC 6120 §11.1)'),
    );
    sax.on('doctype', () => this.restricted(sax, 'DTDs are not allowed (RFC 6120 §11.1)'));
    sax.on('error', (err: Error) => {
      this.settleBeforeError(sax);
      this.abort(conditionOf(err.message), err.message);
    });
    return sax;
  }

  private restricted(sax: Sax, text: string): never {
    this.settleBeforeError(sax);
    this.abort('restricted-xml', text);
  }

  /** Calls a handler; afterwards, stops the old saxes if the handler called reset(). */
  private emit(sax: Sax, call: () => void): void {
    this.inHandler = true;
    call();
    this.inHandler = false;
    if (this.sax !== sax) throw ABORT;
  }

  private fail(condition: StreamErrorCondition, text: string): void {
    if (this.failed) return;
    this.failed = true;
    this.cur = null;
    this.frameEl = null;
    this.chunk = '';
    try {
      this.h.onError(streamError(condition, text));
    } catch {
      // write() never throws, not even when the error handler does.
    }
  }

  private abort(condition: StreamErrorCondition, text: string): never {
    this.fail(condition, text);
    throw ABORT;
  }
}

/** saxes 6's handler properties, which it creates lazily in `on()`. */
interface SaxesHandlerSlots {
  xmldeclHandler: undefined;
  textHandler: undefined;
  piHandler: undefined;
  doctypeHandler: undefined;
  commentHandler: undefined;
  openTagStartHandler: undefined;
  openTagHandler: undefined;
  closeTagHandler: undefined;
  cdataHandler: undefined;
  errorHandler: undefined;
  endHandler: undefined;
  readyHandler: undefined;
  attributeHandler: undefined;
}

/**
 * saxes' `on()` adds each handler property with a keyed store (`this[map[name]] = handler`);
 * after six of those V8 turns the parser into a dictionary-mode object, and every `this.x` in
 * its per-character loop becomes a hash lookup: measured 3–4× slower with our nine handlers.
 * Creating the properties first with named stores keeps the object fast; `on()`/`off()` then
 * only overwrite them. If saxes renames its fields this still works, merely slower again.
 */
function preallocateHandlerSlots(sax: Sax): void {
  const slots = sax as unknown as SaxesHandlerSlots;
  slots.xmldeclHandler = undefined;
  slots.textHandler = undefined;
  slots.piHandler = undefined;
  slots.doctypeHandler = undefined;
  slots.commentHandler = undefined;
  slots.openTagStartHandler = undefined;
  slots.openTagHandler = undefined;
  slots.closeTagHandler = undefined;
  slots.cdataHandler = undefined;
  slots.errorHandler = undefined;
  slots.endHandler = undefined;
  slots.readyHandler = undefined;
  slots.attributeHandler = undefined;
}

/**
 * Maps a saxes error message to a stream error condition.
 * An undefined entity (`&foo;`) is reported as restricted-xml rather than not-well-formed: with
 * DTDs forbidden, the only way to meet one is a reference to an entity other than the five
 * predefined ones, which is exactly what RFC 6120 §11.1 restricts — the more specific condition
 * tells the peer what it did.
 */
function conditionOf(message: string): StreamErrorCondition {
  if (message.includes('unbound namespace prefix')) return 'bad-namespace-prefix'; // RFC 6120 §4.9.3.2
  if (message.includes('undefined entity')) return 'restricted-xml';
  return 'not-well-formed';
}

/** All attributes as written, xmlns declarations included, so the element serialises as parsed. */
function plainAttrs(tag: SaxesTagNS): Record<string, string> {
  const attrs: Record<string, string> = {};
  const src = tag.attributes;
  for (const name in src) {
    const a = src[name];
    if (a !== undefined) attrs[name] = a.value;
  }
  return attrs;
}

/**
 * A depth-1 element, made standalone: it gets the default namespace in force unless it declares
 * its own, and a declaration for its own prefix (e.g. <db:result>, <stream:error>) if the stream
 * header made it. Prefixes declared on the header and used only deeper inside are not copied.
 */
function stanzaElement(tag: SaxesTagNS, defaultNs: string): Element {
  const attrs: Record<string, string> = { xmlns: defaultNs };
  const src = tag.attributes;
  for (const name in src) {
    const a = src[name];
    if (a !== undefined) attrs[name] = a.value;
  }
  if (tag.prefix !== '') {
    const decl = `xmlns:${tag.prefix}`;
    if (attrs[decl] === undefined) attrs[decl] = tag.uri;
  }
  const el = new Element(tag.name);
  el.attrs = attrs;
  return el;
}

/** The header's attributes without namespace declarations. */
function headerAttrs(tag: SaxesTagNS): Record<string, string> {
  const attrs: Record<string, string> = {};
  const src = tag.attributes;
  for (const name in src) {
    const a = src[name];
    if (a !== undefined && a.prefix !== 'xmlns' && name !== 'xmlns') attrs[name] = a.value;
  }
  return attrs;
}
