// What the router, the audit pipeline and the archive writer count, as plain numbers they bump
// on the hot path. One instance is made by the composition root and handed to each part (no
// global); registry.ts turns it into Prometheus families at scrape time. Nothing here allocates
// per message: label values are fixed sets, so each labelled counter is a Float64Array indexed
// by a switch, never a label object or hash string.
import type { Verdict } from '../audit/archive-record.ts';
import type { Severity } from '../audit/policy/rule.ts';
import { Histogram, exponentialBuckets } from './histogram.ts';

export type StanzaKind = 'message' | 'presence' | 'iq';
export const STANZA_KINDS: readonly StanzaKind[] = ['message', 'presence', 'iq'];
export const VERDICT_LABELS: readonly Verdict[] = ['allow', 'flag', 'redact', 'block', 'hold'];
export const SEVERITY_LABELS: readonly Severity[] = ['low', 'medium', 'high', 'critical'];

/** Seconds: 10 µs … ~1.3 s. A scan of a chat line with the full benchmark policy is tens of µs. */
export const SCAN_SECONDS_BUCKETS = exponentialBuckets(0.00001, 2.5, 14);
/** Seconds: 0.5 ms … ~8 s; a message waits for its group commit, plus the queue ahead of it. */
export const LATENCY_SECONDS_BUCKETS = exponentialBuckets(0.0005, 2, 15);
/** Rows per commit: the writer takes up to 1000 (ArchiveWriterOptions.maxBatch). */
export const BATCH_SIZE_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000];

function stanzaIndex(kind: StanzaKind): number {
  switch (kind) {
    case 'message':
      return 0;
    case 'presence':
      return 1;
    case 'iq':
      return 2;
  }
}

function verdictIndex(verdict: Verdict): number {
  switch (verdict) {
    case 'allow':
      return 0;
    case 'flag':
      return 1;
    case 'redact':
      return 2;
    case 'block':
      return 3;
    case 'hold':
      return 4;
  }
}

function severityIndex(severity: Severity): number {
  switch (severity) {
    case 'low':
      return 0;
    case 'medium':
      return 1;
    case 'high':
      return 2;
    case 'critical':
      return 3;
  }
}

export class WardenMetrics {
  /** Stanzas accepted from bound client streams, by STANZA_KINDS index. */
  readonly stanzasRouted = new Float64Array(STANZA_KINDS.length);
  /** Rows committed to the archive, by VERDICT_LABELS index. */
  readonly messagesArchived = new Float64Array(VERDICT_LABELS.length);
  /** Incidents the live pipeline opened (in the archive's commit), by SEVERITY_LABELS index. */
  readonly incidentsOpened = new Float64Array(SEVERITY_LABELS.length);
  /** Failed archive commits (each refuses its whole batch: fail closed). */
  archiveCommitFailures = 0;
  /** Inspecting one message before it is archived: stanza-id strip, encryption check, policy scan, decision. */
  readonly scanSeconds = new Histogram(SCAN_SECONDS_BUCKETS);
  /** From a message entering the pipeline to its archive row committed (what delivery waits for). */
  readonly archiveLagSeconds = new Histogram(LATENCY_SECONDS_BUCKETS);
  readonly archiveBatchSize = new Histogram(BATCH_SIZE_BUCKETS);
  readonly archiveCommitSeconds = new Histogram(LATENCY_SECONDS_BUCKETS);

  stanzaRouted(kind: StanzaKind): void {
    this.stanzasRouted[stanzaIndex(kind)]!++;
  }

  messageArchived(verdict: Verdict): void {
    this.messagesArchived[verdictIndex(verdict)]!++;
  }

  incidentOpened(severity: Severity): void {
    this.incidentsOpened[severityIndex(severity)]!++;
  }
}
