// `npm run bench [-- MODE …]` — Warden's own benchmark. Modes (default: all, in this order):
//   logins      SCRAM-SHA-1 logins/s, 20 in parallel (connect, authenticate, bind, close)
//   idle        server RSS per idle authenticated connection at 1k and 5k connections
//   throughput  P sender→receiver pairs, W messages in flight each: msgs/s, p50/p99, lost
//   policy      throughput with an empty policy, then again with the full policy (10,000
//               keywords + every detector + regexes) installed over the admin API
// Environment: DATABASE_URL (a fresh database is created on that server; else embedded),
// BENCH_PAIRS (50), BENCH_WINDOW (10), BENCH_SECONDS (10), BENCH_IDLE ("1000,5000").
// Every run is bounded in count and time and stops by itself.
import { createUsers, startBenchServer, type BenchServer } from './server-process.ts';
import { LoadClient } from './load-client.ts';
import { fullPolicy } from './policy-fixture.ts';

const PASSWORD = 'bench-password';
const modes = process.argv.slice(2).filter((a) => !a.startsWith('-'));
// 'policy' changes the live rules, so it runs only when asked for by name.
const wanted = (m: string) => modes.length === 0 || modes.includes(m);
const env = (name: string, def: number) => Number(process.env[name] ?? def);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function benchLogins(server: BenchServer): Promise<void> {
  const users = Array.from({ length: 20 }, (_, i) => `login${i}`);
  await createUsers(server, users, PASSWORD);
  // Warm up (JIT, salted-password cache in the load generator).
  for (const u of users) {
    const c = await LoadClient.connect(server.c2sPort);
    await c.login(u, PASSWORD, 'warm');
    c.destroy();
  }
  const total = 2000;
  const deadline = performance.now() + 20_000;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    users.map(async (u, i) => {
      let n = 0;
      while (done < total && performance.now() < deadline) {
        const c = await LoadClient.connect(server.c2sPort);
        await c.login(u, PASSWORD, `r${i}-${n++}`);
        c.close();
        done++;
      }
    }),
  );
  const secs = (performance.now() - started) / 1000;
  console.log(`logins: ${done} SCRAM-SHA-1 logins (connect+auth+bind) by 20 parallel clients in ${secs.toFixed(2)} s = ${(done / secs).toFixed(0)} logins/s`);
}

async function benchIdle(server: BenchServer): Promise<void> {
  const levels = (process.env.BENCH_IDLE ?? '1000,5000').split(',').map(Number);
  const users = Array.from({ length: 100 }, (_, i) => `idle${i}`);
  await createUsers(server, users, PASSWORD);
  const clients: LoadClient[] = [];
  await new Promise((r) => setTimeout(r, 1000));
  const baseline = server.rssKb();
  for (const level of levels) {
    while (clients.length < level) {
      const batch = Math.min(50, level - clients.length);
      const start = clients.length;
      const made = await Promise.all(
        Array.from({ length: batch }, async (_, k) => {
          const c = await LoadClient.connect(server.c2sPort);
          const i = start + k;
          await c.login(users[i % users.length]!, PASSWORD, `idle-${i}`);
          c.send('<presence/>');
          return c;
        }),
      );
      clients.push(...made);
    }
    await new Promise((r) => setTimeout(r, 2000));
    const rss = server.rssKb();
    console.log(
      `idle: ${level} authenticated connections with presence: server RSS ${(rss / 1024).toFixed(1)} MB ` +
        `(baseline ${(baseline / 1024).toFixed(1)} MB) = ${((rss - baseline) / level).toFixed(1)} KB per connection`,
    );
  }
  for (const c of clients) c.destroy();
  await new Promise((r) => setTimeout(r, 1000));
}

const BODY = 'Quarterly numbers 季度报告 are ready — 请查收附件, review before Friday 谢谢! #';

async function installFullPolicy(server: BenchServer): Promise<void> {
  const started = performance.now();
  const rules = fullPolicy();
  for (const rule of rules) {
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/api/v1/rules`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(rule),
    });
    if (res.status !== 201) throw new Error(`installing rule ${rule.name}: ${res.status} ${await res.text()}`);
  }
  const keywords = rules.reduce((n, r) => n + (r.keywords?.length ?? 0), 0);
  console.log(`policy: installed ${rules.length} rules (${keywords} keywords, 8 detectors, 2 regexes) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

async function benchPolicyCost(server: BenchServer): Promise<void> {
  const empty = await benchThroughput(server, 'empty policy');
  await installFullPolicy(server);
  const full = await benchThroughput(server, 'full policy');
  console.log(`policy cost: ${(((empty - full) / empty) * 100).toFixed(1)}% of throughput (${empty.toFixed(0)} → ${full.toFixed(0)} msgs/s)`);
}

let pairGeneration = 0;
async function benchThroughput(server: BenchServer, label = ''): Promise<number> {
  const gen = pairGeneration++;
  const pairs = env('BENCH_PAIRS', 50);
  const window = env('BENCH_WINDOW', 10);
  const seconds = env('BENCH_SECONDS', 10);
  const names = Array.from({ length: pairs }, (_, i) => [`snd${i}`, `rcv${i}`]).flat();
  if (gen === 0) await createUsers(server, names, PASSWORD);
  const senders: LoadClient[] = [];
  const receivers: LoadClient[] = [];
  for (let i = 0; i < pairs; i++) {
    const s = await LoadClient.connect(server.c2sPort);
    await s.login(`snd${i}`, PASSWORD, `bench${gen}`);
    const r = await LoadClient.connect(server.c2sPort);
    await r.login(`rcv${i}`, PASSWORD, `bench${gen}`);
    r.send('<presence/>');
    senders.push(s);
    receivers.push(r);
  }
  const latencies: number[] = [];
  let sent = 0;
  let received = 0;
  let stopSending = false;
  const sentAt = new Map<string, number>();
  const started = performance.now();
  let measuredUntil = 0;
  await new Promise<void>((resolveAll) => {
    let activePairs = pairs;
    for (let i = 0; i < pairs; i++) {
      const s = senders[i]!;
      const r = receivers[i]!;
      let seq = 0;
      let inFlight = 0;
      const sendOne = () => {
        const id = `${i}-${seq++}`;
        sentAt.set(id, performance.now());
        inFlight++;
        sent++;
        s.send(`<message to='rcv${i}@localhost/bench${gen}' type='chat' id='${id}'><body>${BODY}${id}</body></message>`);
      };
      s.receiveMessages(() => {}); // errors back to the sender are counted by the client
      r.receiveMessages((m) => {
        const t0 = sentAt.get(m.id);
        if (t0 === undefined) return;
        sentAt.delete(m.id);
        latencies.push(m.at - t0);
        received++;
        inFlight--;
        if (!stopSending) sendOne();
        else if (inFlight === 0 && --activePairs === 0) resolveAll();
      });
      for (let k = 0; k < window; k++) sendOne();
    }
    setTimeout(() => {
      stopSending = true;
      measuredUntil = performance.now();
      // Drain: whatever is still in flight must arrive; give it up to 10 s.
      setTimeout(resolveAll, 10_000);
    }, seconds * 1000);
  });
  const secs = (measuredUntil - started) / 1000;
  latencies.sort((a, b) => a - b);
  const errors = senders.reduce((n, s) => n + s.errors, 0);
  const lost = sent - received;
  console.log(
    `throughput${label ? ` (${label})` : ''}: ${pairs} pairs × ${window} in flight, ${seconds} s: sent ${sent}, delivered ${received}, ` +
      `${(received / secs).toFixed(0)} msgs/s delivered, p50 ${percentile(latencies, 50).toFixed(1)} ms, ` +
      `p99 ${percentile(latencies, 99).toFixed(1)} ms, lost ${lost}, errors returned ${errors}`,
  );
  for (const c of [...senders, ...receivers]) c.destroy();
  await new Promise((r) => setTimeout(r, 1000));
  return received / secs;
}

async function main(): Promise<void> {
  const command = `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`;
  const server = await startBenchServer();
  console.log(`# ${command}  (server: ${server.database}, node ${process.version}, ${new Date().toISOString()})`);
  try {
    if (wanted('logins')) await benchLogins(server);
    if (wanted('idle')) await benchIdle(server);
    if (wanted('throughput')) await benchThroughput(server);
    if (modes.includes('policy')) await benchPolicyCost(server);
  } finally {
    await server.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
