// A lean XMPP client for load generation: plain TCP, SCRAM-SHA-1 computed here (with the salted
// password cached per salt, as real clients do), and string scanning instead of a DOM, so the
// load generator is not the bottleneck on a 2-core machine.
import net from 'node:net';
import { saltPassword, scramSha1Client, type SaltedPassword } from '../test/support/scram-client.ts';

const saltedCache = new Map<string, Buffer>();
const cachedSaltedPassword: SaltedPassword = (password, salt, iterations) => {
  const key = `${password}\0${salt.toString('base64')}\0${iterations}`;
  let salted = saltedCache.get(key);
  if (!salted) saltedCache.set(key, (salted = saltPassword(password, salt, iterations)));
  return salted;
};

export interface InboundMessage {
  readonly id: string;
  readonly at: number;
}

export class LoadClient {
  private buf = '';
  private waiter: ((s: string) => boolean) | undefined;
  private resolveWait: (() => void) | undefined;
  closed = false;
  onMessage: ((m: InboundMessage) => void) | undefined;
  errors = 0;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => this.onData(d));
    socket.on('close', () => {
      this.closed = true;
      this.resolveWait?.();
    });
    socket.on('error', () => {});
  }

  static connect(port: number): Promise<LoadClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(new LoadClient(socket)));
      socket.once('error', reject);
    });
  }

  private onData(d: string): void {
    this.buf += d;
    if (this.onMessage) {
      // Bound mode: pull out complete <message …>…</message> stanzas and report their id.
      let end: number;
      while ((end = this.buf.indexOf('</message>')) >= 0) {
        const stanza = this.buf.slice(0, end + 10);
        this.buf = this.buf.slice(end + 10);
        if (stanza.includes("type='error'") || stanza.includes('type="error"')) this.errors++;
        const m = /\sid=['"]([^'"]+)['"]/.exec(stanza);
        if (m) this.onMessage({ id: m[1]!, at: performance.now() });
      }
      if (this.buf.length > 1 << 20) this.buf = '';
      return;
    }
    if (this.waiter && this.waiter(this.buf)) {
      this.waiter = undefined;
      this.resolveWait?.();
    }
  }

  private wait(pred: (s: string) => boolean, ms = 30_000): Promise<void> {
    if (pred(this.buf)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timeout; got ${this.buf.slice(-300)}`)), ms);
      this.waiter = pred;
      this.resolveWait = () => {
        clearTimeout(t);
        if (this.closed && !pred(this.buf)) reject(new Error(`closed; got ${this.buf.slice(-300)}`));
        else resolve();
      };
    });
  }

  send(data: string): void {
    this.socket.write(data);
  }

  private header(): void {
    this.send(`<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`);
  }

  async login(username: string, password: string, resource: string): Promise<void> {
    this.header();
    await this.wait((s) => s.includes('</stream:features>'));
    const scram = scramSha1Client(username, password, cachedSaltedPassword);
    this.buf = '';
    this.send(scram.auth);
    await this.wait((s) => s.includes('</challenge>'));
    const challenge = /<challenge[^>]*>([^<]*)</.exec(this.buf)![1]!;
    this.buf = '';
    this.send(scram.respond(challenge));
    await this.wait((s) => s.includes('<success') || s.includes('<failure'));
    if (this.buf.includes('<failure')) throw new Error(`login failed for ${username}: ${this.buf}`);
    this.buf = '';
    this.header();
    await this.wait((s) => s.includes('</stream:features>'));
    this.buf = '';
    this.send(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`);
    await this.wait((s) => s.includes('</iq>'));
    this.buf = '';
  }

  /** Switches to message mode: every inbound message is reported to onMessage. */
  receiveMessages(handler: (m: InboundMessage) => void): void {
    this.onMessage = handler;
  }

  close(): void {
    if (!this.closed) this.socket.end('</stream:stream>');
  }

  destroy(): void {
    this.socket.destroy();
  }
}
