// HTTP requests answered, by method, route pattern and status. Not a hot path (the API serves
// people and scrapers), so a Map keyed by one string is fine. The route is fastify's pattern
// (/api/v1/incidents/:id), never the raw URL, so the label set stays bounded; requests that
// matched no route share route="unmatched".
import type { Sample } from './exposition.ts';

export class HttpMetrics {
  private readonly requests = new Map<string, { method: string; route: string; status: string; count: number }>();

  record(method: string, route: string | undefined, status: number): void {
    const r = route ?? 'unmatched';
    const key = `${method} ${r} ${status}`;
    const entry = this.requests.get(key);
    if (entry) entry.count++;
    else this.requests.set(key, { method, route: r, status: String(status), count: 1 });
  }

  samples(): Sample[] {
    return [...this.requests.values()].map((e) => ({ labels: { method: e.method, route: e.route, status: e.status }, value: e.count }));
  }
}
