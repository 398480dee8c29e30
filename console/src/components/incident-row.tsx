// One incident in a list: severity, when, who, which rules, the excerpt with its matches marked.
import { ago, formatTime } from '../format.ts';
import type { Incident } from '../types.ts';
import { SeverityBadge, StatusLabel, VerdictBadge } from './badges.tsx';
import { Highlighted, matchSpans } from './highlight.tsx';

export const ruleNames = (incident: Incident) => [...new Set(incident.matches.map((m) => m.ruleName))].join(', ') || incident.ruleIds.join(', ');

export function Excerpt({ incident }: { incident: Incident }) {
  const excerpt = incident.excerpt;
  if (!excerpt) return <span class="muted">{incident.verdict === 'block' ? '(blocked; no excerpt)' : '(no text)'}</span>;
  const lead = excerpt.offset > 0 ? '…' : '';
  return (
    <>
      {lead}
      <Highlighted text={excerpt.text} spans={matchSpans(incident.matches, excerpt.offset, excerpt.text.length)} />
    </>
  );
}

/** `href`: where the row leads — its time is a link to it, so Tab reaches every row as well as j/k. */
export function IncidentRow({ incident, selected, href, onOpen, onHover }: { incident: Incident; selected: boolean; href: string; onOpen: () => void; onHover?: () => void }) {
  return (
    <li
      class={`row incident-row${selected ? ' selected' : ''}${incident.status === 'resolved' ? ' is-resolved' : ''}`}
      aria-selected={selected}
      data-incident={incident.id}
      onClick={onOpen}
      onMouseEnter={onHover}
    >
      <span class="cell sev">
        <SeverityBadge severity={incident.severity} />
      </span>
      <span class="cell when" title={`${formatTime(incident.messageTs)} (${ago(incident.messageTs)})`}>
        <a class="row-link" href={href} onClick={(e) => e.stopPropagation()}>
          {formatTime(incident.messageTs)}
        </a>
      </span>
      <span class="cell who">
        {incident.from} <span class="arrow">→</span> {incident.to}
      </span>
      <span class="cell rules">
        <VerdictBadge verdict={incident.verdict} /> {ruleNames(incident)}
      </span>
      <span class="cell excerpt">
        <Excerpt incident={incident} />
      </span>
      <span class="cell state">
        <StatusLabel incident={incident} />
      </span>
    </li>
  );
}
