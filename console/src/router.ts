// Hash routing (#/incidents/42?status=open): the server serves one page, so there is nothing to
// configure on it, and filters live in the address — reload, back and a pasted link all work.
import { useEffect, useState } from 'preact/hooks';
import { queryString, type Query } from './api.ts';

export interface Route {
  /** Path segments: '#/incidents/42' → ['incidents', '42']. */
  readonly path: readonly string[];
  readonly params: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const pathPart = q < 0 ? raw : raw.slice(0, q);
  const path = pathPart.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
  return { path, params: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) };
}

/** '#/search?q=…' from a path and query, leaving out empty values. */
export function href(path: string, query: Query = {}): string {
  return `#${path}${queryString(query)}`;
}

export function navigate(path: string, query: Query = {}, opts: { replace?: boolean } = {}): void {
  const target = href(path, query);
  if (location.hash === target) return;
  if (opts.replace) {
    // replaceState fires no hashchange; useRoute listens for it.
    history.replaceState(null, '', target);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = target;
  }
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** A route parameter, or '' when absent. */
export const param = (route: Route, name: string): string => route.params.get(name) ?? '';
