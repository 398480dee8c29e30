// Dates and names as a reviewer reads them.

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * The browser's offset from UTC on date `d` ('UTC', '+08:00', '-05:00'): every time shown carries
 * it, so a time read off the screen, or copied into a report, says which clock it is on.
 */
export function zoneLabel(d: Date = new Date()): string {
  const minutes = -d.getTimezoneOffset();
  if (minutes === 0) return 'UTC';
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** '2025-03-14 09:26:53 UTC' or '2025-03-14 17:26:53 +08:00': the browser's time zone, named. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zoneLabel(d)}`;
}

/** The label of a date-time field: its value is in the browser's time zone ('local time, UTC'). */
export const localInputZone = (): string => (zoneLabel() === 'UTC' ? 'UTC' : `local time, UTC${zoneLabel()}`);

/** '3 min ago', for a title attribute or a compact column. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.round((now - new Date(iso).getTime()) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

/** The bare JID of a full one ('alice@example.com/phone' → 'alice@example.com'). */
export function bare(jid: string): string {
  const slash = jid.indexOf('/');
  return slash < 0 ? jid : jid.slice(0, slash);
}

/** A datetime-local input value ('2025-03-14T09:26') as an ISO string, or '' when empty. */
export function localInputToIso(value: string): string {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

/** An ISO string as a datetime-local input value. */
export function isoToLocalInput(iso: string): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export const DISPOSITION_LABELS: Readonly<Record<string, string>> = {
  true_positive: 'True positive',
  false_positive: 'False positive',
  escalated: 'Escalated',
};

/** Compact one-line JSON for the access log's query and detail columns. */
export function compactJson(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object' && Object.keys(value).length === 0) return '';
  return JSON.stringify(value);
}

/** '1.2 MB' (1000-based, as file managers show sizes), '' for null. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '';
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}
