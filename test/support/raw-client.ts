// A raw XMPP client on a plain socket for hostile-input tests: it sends exactly the bytes a test
// gives it and collects what comes back. SCRAM comes from scram-client.ts, independent of the
// server's code.
import net from 'node:net';
import { scramSha1Client } from './scram-client.ts';

export class RawClient {
  received = '';
  closed = false;
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.received += d.toString('utf8');
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Waits until `pred(received)` holds, or throws after `ms`. */
  async until(pred: (received: string) => boolean, ms = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred(this.received)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; received so far: ${this.received.slice(-600)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  waitClosed(ms = 5000): Promise<void> {
    return this.until(() => this.closed, ms, 'close');
  }

  openStream(domain = 'localhost'): void {
    this.write(`<?xml version='1.0'?><stream:stream to='${domain}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`);
  }

  /** Opens a stream and logs in with SCRAM-SHA-1 on a plain socket (server must allow it), then binds. */
  async login(username: string, password: string, resource: string): Promise<void> {
    this.openStream();
    await this.until((r) => r.includes('</stream:features>'), 5000, 'features');
    const scram = scramSha1Client(username, password);
    this.received = '';
    this.write(scram.auth);
    await this.until((r) => r.includes('</challenge>'), 5000, 'challenge');
    const challenge = /<challenge[^>]*>([^<]*)<\/challenge>/.exec(this.received)![1]!;
    this.received = '';
    this.write(scram.respond(challenge));
    await this.until((r) => r.includes('<success'), 5000, 'success');
    this.received = '';
    this.openStream();
    await this.until((r) => r.includes('</stream:features>'), 5000, 'bind features');
    this.received = '';
    this.write(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`);
    await this.until((r) => r.includes("id='b1'") || r.includes('id="b1"'), 5000, 'bind result');
    this.received = '';
  }

  close(): void {
    this.socket.destroy();
  }
}
