// Warden as an administrator runs it: the real entry point (src/main.ts) in a child process,
// on free loopback ports, so a test can SIGTERM or SIGKILL it.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

const root = path.join(import.meta.dirname, '..', '..');

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export async function freePorts(): Promise<{ C2S_PORT: string; C2S_TLS_PORT: string; HTTP_PORT: string; HTTPS_PORT: string }> {
  return { C2S_PORT: String(await freePort()), C2S_TLS_PORT: String(await freePort()), HTTP_PORT: String(await freePort()), HTTPS_PORT: String(await freePort()) };
}

export interface ChildServer {
  readonly child: ChildProcess;
  out(): string;
  err(): string;
  readonly exited: Promise<number | null>;
  /** Resolves when the log says the server is serving; rejects if it exits first. */
  ready(ms?: number): Promise<void>;
}

/** Starts `node --import tsx src/main.ts` with env on top of this process's (DATABASE_URL only if given). */
export function startChildServer(env: Record<string, string>): ChildServer {
  const childEnv: Record<string, string> = { ...(process.env as Record<string, string>) };
  delete childEnv.DATABASE_URL;
  Object.assign(childEnv, env);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: root, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    out: () => out,
    err: () => err,
    exited,
    ready: async (ms = 120_000) => {
      const deadline = Date.now() + ms;
      while (!err.includes('Warden serving')) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start\nstdout: ${out}\nstderr: ${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}
