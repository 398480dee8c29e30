// The Prometheus text exposition format, version 0.0.4 (prometheus.io/docs/instrumenting/
// exposition_formats): `# HELP`, `# TYPE`, then one `name{label="value"} number` line per
// sample. Pure: metric families in, text out. Warden's own metrics are rendered here from plain
// numbers kept on the hot path; prom-client renders only the process metrics (registry.ts).
import type { Histogram } from './histogram.ts';

export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  readonly labels?: Labels;
  readonly value: number;
}

export type MetricFamily =
  | { readonly type: 'counter' | 'gauge'; readonly name: string; readonly help: string; readonly samples: readonly Sample[] }
  | {
      readonly type: 'histogram';
      readonly name: string;
      readonly help: string;
      readonly series: readonly { readonly labels?: Labels; readonly histogram: Histogram }[];
    };

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A sample value as Prometheus parses it (Go's ParseFloat): infinities and NaN spelled its way. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** HELP text: backslash and line feed escaped. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A label value: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(labels: Labels | undefined, extra?: readonly [string, string]): string {
  const parts: string[] = [];
  if (labels !== undefined) {
    for (const [name, value] of Object.entries(labels)) {
      if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new Error(`invalid label name ${JSON.stringify(name)}`);
      parts.push(`${name}="${escapeLabelValue(value)}"`);
    }
  }
  if (extra !== undefined) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** Renders families in the order given; each family's name must be unique (the format forbids repeats). */
export function renderFamilies(families: readonly MetricFamily[]): string {
  const seen = new Set<string>();
  let out = '';
  for (const family of families) {
    if (!METRIC_NAME.test(family.name)) throw new Error(`invalid metric name ${JSON.stringify(family.name)}`);
    if (seen.has(family.name)) throw new Error(`metric ${family.name} rendered twice`);
    seen.add(family.name);
    out += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    if (family.type === 'histogram') {
      for (const { labels, histogram } of family.series) {
        const cumulative = histogram.cumulative();
        for (let i = 0; i < cumulative.length; i++) {
          const le = i < histogram.bounds.length ? formatValue(histogram.bounds[i]!) : '+Inf';
          out += `${family.name}_bucket${labelText(labels, ['le', le])} ${formatValue(cumulative[i]!)}\n`;
        }
        out += `${family.name}_sum${labelText(labels)} ${formatValue(histogram.sum)}\n`;
        out += `${family.name}_count${labelText(labels)} ${formatValue(histogram.count)}\n`;
      }
    } else {
      for (const sample of family.samples) out += `${family.name}${labelText(sample.labels)} ${formatValue(sample.value)}\n`;
    }
  }
  return out;
}
