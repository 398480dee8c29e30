// What the hot path counts, seen through a real audit pipeline on a real database, and how a
// scrape turns it (and live state) into Prometheus families.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import type { RuleMatch } from '../audit/archive-record.ts';
import { createAuditPipeline, type AuditPipeline } from '../audit/pipeline.ts';
import type { LivePolicy } from '../audit/policy-manager.ts';
import type { Severity } from '../audit/policy/rule.ts';
import { silentLogger } from '../log.ts';
import { makeJid } from '../stanza/jid.ts';
import { xml } from '../xml.ts';
import { HttpMetrics } from './http-metrics.ts';
import { cachedOpenIncidents, queryOpenIncidents, type SeverityCounts } from './open-incidents.ts';
import { countByTransport, createMetricsEndpoint, wardenFamilies, type MetricsSources } from './registry.ts';
import { STANZA_KINDS, SEVERITY_LABELS, VERDICT_LABELS, WardenMetrics } from './warden-metrics.ts';

describe('WardenMetrics', () => {
  it.each(STANZA_KINDS.map((k, i) => [k, i] as const))('stanzaRouted(%s) bumps index %i only', (kind, index) => {
    const m = new WardenMetrics();
    m.stanzaRouted(kind);
    expect([...m.stanzasRouted]).toEqual(STANZA_KINDS.map((_, i) => (i === index ? 1 : 0)));
  });
  it.each(VERDICT_LABELS.map((v, i) => [v, i] as const))('messageArchived(%s) bumps index %i only', (verdict, index) => {
    const m = new WardenMetrics();
    m.messageArchived(verdict);
    expect([...m.messagesArchived]).toEqual(VERDICT_LABELS.map((_, i) => (i === index ? 1 : 0)));
  });
  it.each(SEVERITY_LABELS.map((s, i) => [s, i] as const))('incidentOpened(%s) bumps index %i only', (severity, index) => {
    const m = new WardenMetrics();
    m.incidentOpened(severity);
    expect([...m.incidentsOpened]).toEqual(SEVERITY_LABELS.map((_, i) => (i === index ? 1 : 0)));
  });
});

function match(severity: Severity, action: RuleMatch['action']): RuleMatch {
  return { ruleId: `r_${severity}`, ruleName: severity, action, severity, start: 0, end: 4, match: 'word' };
}

/** Flags "rumour" (low), holds "merger" (high), blocks "bomb" (critical); allows the rest. */
const policy: LivePolicy = {
  version: 1,
  scan: (text) => {
    if (text.includes('bomb')) return { verdict: 'block', matches: [match('critical', 'block')], reason: 'bomb' };
    if (text.includes('merger')) return { verdict: 'hold', matches: [match('high', 'hold')], reason: 'merger' };
    if (text.includes('rumour')) return { verdict: 'flag', matches: [match('low', 'flag')], reason: 'rumour' };
    return { verdict: 'allow', matches: [] };
  },
};

describe('the audit pipeline counts for /metrics', () => {
  let db: TestDatabase;
  let pipeline: AuditPipeline;
  const metrics = new WardenMetrics();
  const alice = makeJid('alice', 'localhost', 'pc');
  const bob = makeJid('bob', 'localhost');
  const send = (body: string, i: number) =>
    pipeline.inspect({ stanza: xml('message', { type: 'chat', id: `m${i}`, to: 'bob@localhost' }, xml('body', {}, body)), from: alice, to: bob, direction: 'internal' });

  beforeAll(async () => {
    db = await openTestDatabase();
    pipeline = await createAuditPipeline({ sql: db.sql, domain: 'localhost', log: silentLogger, policy, metrics });
  });
  afterAll(async () => {
    await pipeline?.close();
    await db?.close();
  });

  it('counts rows by verdict, incidents by severity, and times every message and batch', async () => {
    const bodies = ['hello', 'hi again', 'a rumour', 'the merger', 'a bomb', 'another rumour', 'bye'];
    const outcomes = await Promise.all(bodies.map(send));
    expect(outcomes.map((o) => o.kind)).toEqual(['deliver', 'deliver', 'deliver', 'hold', 'refuse', 'deliver', 'deliver']);

    const byVerdict = Object.fromEntries(VERDICT_LABELS.map((v, i) => [v, metrics.messagesArchived[i]]));
    expect(byVerdict).toEqual({ allow: 3, flag: 2, redact: 0, block: 1, hold: 1 });
    const bySeverity = Object.fromEntries(SEVERITY_LABELS.map((s, i) => [s, metrics.incidentsOpened[i]]));
    expect(bySeverity).toEqual({ low: 2, medium: 0, high: 1, critical: 1 });

    expect(metrics.scanSeconds.count).toBe(bodies.length);
    expect(metrics.archiveLagSeconds.count).toBe(bodies.length);
    // Lag covers the commit, so it is never shorter than the scan before it.
    expect(metrics.archiveLagSeconds.sum).toBeGreaterThan(metrics.scanSeconds.sum);
    // Group commit: however the messages were batched, every row is in exactly one batch.
    expect(metrics.archiveBatchSize.sum).toBe(bodies.length);
    expect(metrics.archiveCommitSeconds.count).toBe(metrics.archiveBatchSize.count);
    expect(metrics.archiveCommitFailures).toBe(0);
  });

  it('counts open incidents by severity in SQL, and a resolved one no longer', async () => {
    expect(await queryOpenIncidents(db.sql)).toEqual({ low: 2, medium: 0, high: 1, critical: 1 });
    await db.sql`UPDATE incidents SET status = 'resolved', resolved_at = now() WHERE severity = 'critical'`;
    expect(await queryOpenIncidents(db.sql)).toEqual({ low: 2, medium: 0, high: 1, critical: 0 });
  });
});

describe('cachedOpenIncidents', () => {
  const counts = (n: number): SeverityCounts => ({ low: n, medium: 0, high: 0, critical: 0 });

  it('queries once while the counts are fresh, again once they are older than maxAgeMs', async () => {
    let clock = 1000;
    let queries = 0;
    const get = cachedOpenIncidents(async () => counts(++queries), { maxAgeMs: 5000, now: () => clock });
    expect(await get()).toEqual(counts(1));
    clock += 4999;
    expect(await get()).toEqual(counts(1));
    clock += 1;
    expect(await get()).toEqual(counts(2));
    expect(queries).toBe(2);
  });

  it('shares one query between concurrent scrapes', async () => {
    let queries = 0;
    const get = cachedOpenIncidents(async () => {
      queries++;
      await new Promise((r) => setTimeout(r, 20));
      return counts(7);
    });
    expect(await Promise.all([get(), get(), get()])).toEqual([counts(7), counts(7), counts(7)]);
    expect(queries).toBe(1);
  });

  it('answers the last known counts when the query is slow or fails, undefined before any', async () => {
    let clock = 0;
    let mode: 'ok' | 'slow' | 'fail' = 'slow';
    const get = cachedOpenIncidents(
      () => (mode === 'ok' ? Promise.resolve(counts(3)) : mode === 'fail' ? Promise.reject(new Error('down')) : new Promise<SeverityCounts>(() => {})),
      { maxAgeMs: 10, timeoutMs: 30, now: () => clock },
    );
    const started = performance.now();
    expect(await get()).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(1000);
    mode = 'ok';
    // The slow query is still in flight: it is shared, not repeated, so still nothing known.
    expect(await get()).toBeUndefined();
    const fresh = cachedOpenIncidents(() => (mode === 'ok' ? Promise.resolve(counts(3)) : Promise.reject(new Error('down'))), { maxAgeMs: 10, now: () => clock });
    expect(await fresh()).toEqual(counts(3));
    mode = 'fail';
    clock += 100;
    expect(await fresh()).toEqual(counts(3));
  });
});

describe('the scrape', () => {
  const sources = (m: WardenMetrics, extra: Partial<MetricsSources> = {}): MetricsSources => ({
    metrics: m,
    connections: () => ({ tcp: 2, tls: 1, websocket: 0 }),
    boundSessions: () => 3,
    archiveQueueDepth: () => 17,
    archiveHealthy: () => false,
    ...extra,
  });

  it('renders every warden family with its live values', async () => {
    const m = new WardenMetrics();
    m.stanzaRouted('message');
    m.stanzaRouted('message');
    m.stanzaRouted('iq');
    m.archiveBatchSize.observe(40);
    const http = new HttpMetrics();
    http.record('GET', '/api/v1/incidents/:id', 200);
    http.record('GET', '/api/v1/incidents/:id', 200);
    http.record('GET', undefined, 404);
    const text = await createMetricsEndpoint(
      sources(m, { http, openIncidents: async () => ({ low: 1, medium: 2, high: 3, critical: 4 }) }),
      { processMetrics: false },
    ).render();
    for (const line of [
      'warden_connections_open{transport="tcp"} 2',
      'warden_connections_open{transport="tls"} 1',
      'warden_connections_open{transport="websocket"} 0',
      'warden_sessions_bound 3',
      'warden_stanzas_routed_total{kind="message"} 2',
      'warden_stanzas_routed_total{kind="presence"} 0',
      'warden_stanzas_routed_total{kind="iq"} 1',
      'warden_messages_archived_total{verdict="hold"} 0',
      'warden_archive_queue_depth 17',
      'warden_archive_up 0',
      'warden_archive_batch_size_bucket{le="25"} 0',
      'warden_archive_batch_size_bucket{le="50"} 1',
      'warden_archive_batch_size_sum 40',
      'warden_incidents_opened_total{severity="critical"} 0',
      'warden_incidents_open{severity="critical"} 4',
      'warden_http_requests_total{method="GET",route="/api/v1/incidents/:id",status="200"} 2',
      'warden_http_requests_total{method="GET",route="unmatched",status="404"} 1',
      '# TYPE warden_archive_lag_seconds histogram',
      '# TYPE warden_policy_scan_duration_seconds histogram',
      '# TYPE warden_archive_commit_duration_seconds histogram',
    ]) {
      expect(text.split('\n')).toContain(line);
    }
  });

  it('leaves out open incidents while they cannot be counted, and keeps the rest', async () => {
    const names = (await wardenFamilies(sources(new WardenMetrics(), { openIncidents: async () => undefined }))).map((f) => f.name);
    expect(names).not.toContain('warden_incidents_open');
    expect(names).toContain('warden_stanzas_routed_total');
  });

  it('appends the Node.js process metrics', async () => {
    const text = await createMetricsEndpoint(sources(new WardenMetrics())).render();
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d+/m);
  });

  it('countByTransport counts streams by their transport', () => {
    const s = (kind: 'tcp' | 'tls' | 'websocket') => ({ transport: { kind } });
    expect(countByTransport([s('tcp'), s('websocket'), s('tcp')])).toEqual({ tcp: 2, tls: 0, websocket: 1 });
    expect(countByTransport([])).toEqual({ tcp: 0, tls: 0, websocket: 0 });
  });
});
