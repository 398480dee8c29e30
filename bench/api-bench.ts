// What the access log costs an officer's read: N sequential searches (each logged, one chained
// insert under a lock) against N reads of the rule list (not logged), on a real server.
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node --import tsx bench/api-bench.ts [N]
import { startTestServer } from '../test/support/server.ts';

const n = Number(process.argv[2] ?? 500);
const t = await startTestServer();
const base = `http://127.0.0.1:${t.server.ports.http}`;
async function time(path: string, token: string): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
    ms.push(performance.now() - started);
  }
  return ms.sort((a, b) => a - b);
}
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))]!.toFixed(2);
await time('/api/v1/rules', t.tokens.officer); // warm up
const rules = await time('/api/v1/rules', t.tokens.officer);
const search = await time(`/api/v1/messages?q=${encodeURIComponent('季度报告')}`, t.tokens.officer);
const [logged] = await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM access_log WHERE action = 'search'`;
console.log(`# node --import tsx bench/api-bench.ts ${n}  (${t.db.embedded ? 'embedded PGlite' : 'PostgreSQL'})`);
console.log(`GET /api/v1/rules (not logged):      p50 ${pct(rules, 0.5)} ms, p99 ${pct(rules, 0.99)} ms`);
console.log(`GET /api/v1/messages?q= (logged):    p50 ${pct(search, 0.5)} ms, p99 ${pct(search, 0.99)} ms; access-log entries written: ${logged?.n}`);
const v0 = performance.now();
const report = await t.server.http.inject({ method: 'GET', url: '/api/v1/access-log/verify', headers: { authorization: `Bearer ${t.tokens.auditor}` } });
console.log(`access-log verify of ${report.json().rows} entries: ${(performance.now() - v0).toFixed(0)} ms, ok=${report.json().ok}`);
await t.close();
