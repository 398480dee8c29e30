// Starts Warden as a child process (so its memory is its own), on free loopback ports, with the
// real PostgreSQL when DATABASE_URL is set (a fresh database) or the embedded store otherwise.
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { freePort } from '../test/support/child-server.ts';

export interface BenchServer {
  readonly child: ChildProcess;
  readonly c2sPort: number;
  readonly httpPort: number;
  readonly adminToken: string;
  readonly database: string;
  rssKb(): number;
  stop(): Promise<void>;
}

export async function startBenchServer(extraEnv: Record<string, string> = {}): Promise<BenchServer> {
  const [c2sPort, tlsPort, httpPort, httpsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'warden-bench-'));
  // ADMIN_TOKEN must be 32–512 characters; a random one per run.
  const adminToken = 'bench-admin-' + randomBytes(24).toString('base64url');
  let databaseUrl: string | undefined;
  let dropDb: (() => Promise<void>) | undefined;
  if (process.env.DATABASE_URL) {
    const name = `warden_bench_${Date.now()}`;
    const admin = postgres(process.env.DATABASE_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE DATABASE ${name}`);
    await admin.end();
    const u = new URL(process.env.DATABASE_URL);
    u.pathname = '/' + name;
    databaseUrl = u.toString();
    dropDb = async () => {
      const a = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    };
  }
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    XMPP_DOMAIN: 'localhost',
    BIND_HOST: '127.0.0.1',
    C2S_PORT: String(c2sPort),
    C2S_TLS_PORT: String(tlsPort),
    HTTP_PORT: String(httpPort),
    HTTPS_PORT: String(httpsPort),
    DATA_DIR: dataDir,
    ADMIN_TOKEN: adminToken,
    C2S_REQUIRE_TLS: 'false',
    C2S_RATE_BYTES: String(64 * 1024 * 1024),
    LOGIN_MAX_FAILURES: '1000',
    AUTH_TIMEOUT_MS: '120000',
    LOG_LEVEL: 'info',
    ...extraEnv,
  };
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  else delete env.DATABASE_URL;
  // BENCH_PROFILE=DIR writes a V8 CPU profile of the server into DIR (open it in Chrome DevTools).
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', () => {});
  // Ready when the HTTP health check answers.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited: ${stderr.slice(-2000)}`);
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      if (res.ok) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`server did not start: ${stderr.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    c2sPort,
    httpPort,
    adminToken,
    database: databaseUrl ? 'PostgreSQL (DATABASE_URL)' : 'embedded PGlite',
    rssKb: () => {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    },
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      const totals = /archive writer totals (\{.*\})/.exec(stderr)?.[1];
      if (totals) console.log(`server: archive writer ${totals}`);
      await dropDb?.();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function createUsers(server: BenchServer, names: string[], password: string, parallel = 8): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < names.length) {
        const username = names[next++]!;
        const res = await fetch(`http://127.0.0.1:${server.httpPort}/api/v1/users`, {
          method: 'POST',
          headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ username, password }),
        });
        if (res.status !== 201 && res.status !== 409) throw new Error(`creating ${username}: ${res.status} ${await res.text()}`);
      }
    }),
  );
}
