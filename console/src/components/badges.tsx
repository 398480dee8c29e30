// Small labels whose colour carries meaning: severity, verdict, status.
import { DISPOSITION_LABELS } from '../format.ts';
import type { Incident } from '../types.ts';

export const SeverityBadge = ({ severity }: { severity: string }) => <span class={`badge sev-${severity}`}>{severity}</span>;

export const VerdictBadge = ({ verdict }: { verdict: string }) => <span class={`badge verdict-${verdict}`}>{verdict}</span>;

/** open · assigned to x · resolved (false positive) · held. */
export function StatusLabel({ incident }: { incident: Incident }) {
  if (incident.status === 'resolved') {
    return <span class="status resolved">resolved{incident.disposition ? ` · ${DISPOSITION_LABELS[incident.disposition] ?? incident.disposition}` : ''}</span>;
  }
  return (
    <span class="status open">
      {incident.holdState === 'held' ? <span class="badge held">held</span> : 'open'}
      {incident.assignee ? ` · ${incident.assignee}` : ''}
    </span>
  );
}
