// GET /metrics: Warden's own families (rendered from WardenMetrics and from gauges read at
// scrape time), then the Node.js process metrics from prom-client (memory, CPU, event loop lag,
// GC, handles). Prometheus naming: warden_ prefix, base units (seconds), counters end in _total.
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { TransportKind } from '../stream/transport.ts';
import { EXPOSITION_CONTENT_TYPE, renderFamilies, type MetricFamily, type Sample } from './exposition.ts';
import type { HttpMetrics } from './http-metrics.ts';
import type { OpenIncidentCounter } from './open-incidents.ts';
import { SEVERITY_LABELS, STANZA_KINDS, VERDICT_LABELS, type WardenMetrics } from './warden-metrics.ts';

export const TRANSPORT_KINDS: readonly TransportKind[] = ['tcp', 'tls', 'websocket'];

/** What the scrape reads besides the counters: live state, asked for only when scraped. */
export interface MetricsSources {
  readonly metrics: WardenMetrics;
  readonly http?: HttpMetrics;
  /** Client streams open now (negotiating or bound), by transport. */
  connections(): Readonly<Record<TransportKind, number>>;
  /** Bound resources (sessions that can send and receive stanzas). */
  boundSessions(): number;
  /** Messages waiting for the archive's next group commit. */
  archiveQueueDepth(): number;
  /** False while the archive refuses messages after a failed commit (fail closed). */
  archiveHealthy(): boolean;
  openIncidents?: OpenIncidentCounter;
}

export interface MetricsEndpoint {
  readonly contentType: string;
  render(): Promise<string>;
}

let processRegistry: Registry | undefined;
/**
 * prom-client's default collectors watch the whole process (an event-loop-delay monitor, a GC
 * observer) and cannot be stopped, so there is one set per process however many servers a
 * test starts, rather than one per server.
 */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

const labelled = (values: ArrayLike<number>, label: string, names: readonly string[]): Sample[] =>
  names.map((name, i) => ({ labels: { [label]: name }, value: values[i] ?? 0 }));

/** Warden's families at this moment. Pure except for the sources it reads. */
export async function wardenFamilies(sources: MetricsSources): Promise<MetricFamily[]> {
  const m = sources.metrics;
  const connections = sources.connections();
  const open = sources.openIncidents === undefined ? undefined : await sources.openIncidents();
  const families: MetricFamily[] = [
    {
      type: 'gauge',
      name: 'warden_connections_open',
      help: 'Client streams open now (negotiating or bound), by transport.',
      samples: TRANSPORT_KINDS.map((t) => ({ labels: { transport: t }, value: connections[t] })),
    },
    { type: 'gauge', name: 'warden_sessions_bound', help: 'Bound client resources.', samples: [{ value: sources.boundSessions() }] },
    {
      type: 'counter',
      name: 'warden_stanzas_routed_total',
      help: 'Stanzas accepted from bound client streams, by kind; rate() gives stanzas per second.',
      samples: labelled(m.stanzasRouted, 'kind', STANZA_KINDS),
    },
    {
      type: 'counter',
      name: 'warden_messages_archived_total',
      help: 'Messages committed to the compliance archive, by verdict; sum() for the total.',
      samples: labelled(m.messagesArchived, 'verdict', VERDICT_LABELS),
    },
    {
      type: 'counter',
      name: 'warden_archive_commit_failures_total',
      help: 'Archive group commits that failed (their messages were refused, not delivered).',
      samples: [{ value: m.archiveCommitFailures }],
    },
    {
      type: 'gauge',
      name: 'warden_archive_queue_depth',
      help: 'Messages waiting for the next archive group commit.',
      samples: [{ value: sources.archiveQueueDepth() }],
    },
    {
      type: 'gauge',
      name: 'warden_archive_up',
      help: '1 while the archive accepts messages; 0 while it refuses them after a failed commit.',
      samples: [{ value: sources.archiveHealthy() ? 1 : 0 }],
    },
    {
      type: 'histogram',
      name: 'warden_archive_batch_size',
      help: 'Rows per archive group commit.',
      series: [{ histogram: m.archiveBatchSize }],
    },
    {
      type: 'histogram',
      name: 'warden_archive_commit_duration_seconds',
      help: 'Time to write and commit one archive batch.',
      series: [{ histogram: m.archiveCommitSeconds }],
    },
    {
      type: 'histogram',
      name: 'warden_archive_lag_seconds',
      help: 'Time from a message entering the audit pipeline to its archive row committed (delivery waits for it).',
      series: [{ histogram: m.archiveLagSeconds }],
    },
    {
      type: 'histogram',
      name: 'warden_policy_scan_duration_seconds',
      help: 'Time to inspect one message before archiving: stanza-id strip, encryption check, policy scan, decision.',
      series: [{ histogram: m.scanSeconds }],
    },
    {
      type: 'counter',
      name: 'warden_incidents_opened_total',
      help: 'Incidents opened by the live pipeline (with the message\'s archive row), by severity.',
      samples: labelled(m.incidentsOpened, 'severity', SEVERITY_LABELS),
    },
  ];
  if (open !== undefined) {
    families.push({
      type: 'gauge',
      name: 'warden_incidents_open',
      help: 'Incidents not yet resolved, by severity (all sources; counted at most every few seconds).',
      samples: SEVERITY_LABELS.map((s) => ({ labels: { severity: s }, value: open[s] })),
    });
  }
  if (sources.http !== undefined) {
    families.push({
      type: 'counter',
      name: 'warden_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status.',
      samples: sources.http.samples(),
    });
  }
  return families;
}

export function createMetricsEndpoint(sources: MetricsSources, opts: { processMetrics?: boolean } = {}): MetricsEndpoint {
  const registry = opts.processMetrics === false ? undefined : processMetrics();
  return {
    contentType: EXPOSITION_CONTENT_TYPE,
    render: async () => {
      const own = renderFamilies(await wardenFamilies(sources));
      return registry === undefined ? own : own + (await registry.metrics());
    },
  };
}

/** Open streams by transport, for MetricsSources.connections (one pass at scrape time). */
export function countByTransport(streams: Iterable<{ readonly transport: { readonly kind: TransportKind } }>): Record<TransportKind, number> {
  const counts: Record<TransportKind, number> = { tcp: 0, tls: 0, websocket: 0 };
  for (const s of streams) counts[s.transport.kind]++;
  return counts;
}
