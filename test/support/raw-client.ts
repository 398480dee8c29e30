// A raw XMPP client on a plain socket for hostile-input tests: it sends exactly the bytes a test
// gives it and collects what comes back. SCRAM-SHA-1 is computed here independently of the
// server's code (RFC 5802 §3), so a server bug cannot hide behind a shared helper.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import net from 'node:net';

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
    const nonce = randomBytes(12).toString('base64');
    const bare = `n=${username},r=${nonce}`;
    this.received = '';
    this.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>${Buffer.from(`n,,${bare}`).toString('base64')}</auth>`);
    await this.until((r) => r.includes('</challenge>'), 5000, 'challenge');
    const serverFirst = Buffer.from(/<challenge[^>]*>([^<]*)<\/challenge>/.exec(this.received)![1]!, 'base64').toString();
    const attrs = Object.fromEntries(serverFirst.split(',').map((kv) => [kv[0], kv.slice(2)]));
    const salted = pbkdf2Sync(password, Buffer.from(attrs.s!, 'base64'), Number(attrs.i), 20, 'sha1');
    const clientKey = createHmac('sha1', salted).update('Client Key').digest();
    const storedKey = createHash('sha1').update(clientKey).digest();
    const finalNoProof = `c=biws,r=${attrs.r}`;
    const authMessage = `${bare},${serverFirst},${finalNoProof}`;
    const signature = createHmac('sha1', storedKey).update(authMessage).digest();
    const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
    this.received = '';
    this.write(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${Buffer.from(`${finalNoProof},p=${proof.toString('base64')}`).toString('base64')}</response>`);
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
