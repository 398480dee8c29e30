// Cursor pagination ("load more"): pages are fetched one at a time, never the whole list. The
// loaded pages are kept per list key for the tab's life, so leaving the queue for an incident and
// coming back shows the same rows at once, in the same place.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { problemFrom } from '../api.ts';
import type { Page, Problem } from '../types.ts';

export interface PagedList<T> {
  readonly items: readonly T[];
  readonly next: string | null;
  readonly loading: boolean;
  readonly problem: Problem | null;
  /** The first page has been answered (items may be empty). */
  readonly loaded: boolean;
  loadMore(): Promise<void>;
  reload(): void;
  /** Replaces or removes one loaded item (after an action on it), keeping the rest. */
  update(fn: (items: readonly T[]) => readonly T[]): void;
}

interface Snapshot<T> {
  items: readonly T[];
  next: string | null;
}

const MAX_CACHED_LISTS = 8;
const cache = new Map<string, Snapshot<unknown>>();

function remember(key: string, snapshot: Snapshot<unknown>): void {
  cache.delete(key);
  cache.set(key, snapshot);
  while (cache.size > MAX_CACHED_LISTS) {
    const oldest = cache.keys().next().value;
    if (oldest === undefined) break;
    cache.delete(oldest);
  }
}

/** The loaded rows of list `key`, if any (the incident page uses it for j/k between incidents). */
export function cachedItems<T>(key: string): readonly T[] | undefined {
  return cache.get(key)?.items as readonly T[] | undefined;
}

/**
 * `key` names the list and its filters; when it changes the list starts over. `fetchPage` gets
 * the cursor (undefined for the first page). A null key means "nothing to load yet".
 * `fresh`: always fetch the first page when the list is shown, never start from the cache (for
 * lists that change elsewhere — exports started from the search page, another officer's holds).
 */
export function usePaged<T>(key: string | null, fetchPage: (cursor: string | undefined) => Promise<Page<T>>, opts: { fresh?: boolean } = {}): PagedList<T> {
  const cached = key === null || opts.fresh ? undefined : (cache.get(key) as Snapshot<T> | undefined);
  const [snapshot, setSnapshot] = useState<Snapshot<T>>(cached ?? { items: [], next: null });
  const [loaded, setLoaded] = useState(cached !== undefined);
  const [loading, setLoading] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [generation, setGeneration] = useState(0);
  const keyRef = useRef(key);
  const fetchRef = useRef(fetchPage);
  fetchRef.current = fetchPage;
  const busy = useRef(false);
  /** Set by reload(): fetch again even though the list is cached. */
  const skipCache = useRef(false);

  const store = useCallback((k: string | null, next: Snapshot<T>) => {
    if (k !== null) remember(k, next as Snapshot<unknown>);
    if (keyRef.current === k) setSnapshot(next);
  }, []);

  useEffect(() => {
    keyRef.current = key;
    setProblem(null);
    const fromCache = key === null ? undefined : (cache.get(key) as Snapshot<T> | undefined);
    const useCache = !skipCache.current && !opts.fresh;
    skipCache.current = false;
    if (fromCache && useCache) {
      setSnapshot(fromCache);
      setLoaded(true);
      return;
    }
    setSnapshot({ items: [], next: null });
    setLoaded(false);
    if (key === null) return;
    let cancelled = false;
    setLoading(true);
    busy.current = true;
    fetchRef
      .current(undefined)
      .then((page) => {
        if (cancelled) return;
        store(key, { items: page.items, next: page.next });
        setLoaded(true);
      })
      .catch((err: unknown) => !cancelled && setProblem(problemFrom(err)))
      .finally(() => {
        if (cancelled) return;
        setLoading(false);
        busy.current = false;
      });
    return () => {
      cancelled = true;
      busy.current = false;
    };
  }, [key, generation]);

  const loadMore = useCallback(async () => {
    const k = keyRef.current;
    if (k === null || busy.current || snapshot.next === null) return;
    busy.current = true;
    setLoading(true);
    try {
      const page = await fetchRef.current(snapshot.next);
      store(k, { items: [...snapshot.items, ...page.items], next: page.next });
    } catch (err) {
      setProblem(problemFrom(err));
    } finally {
      busy.current = false;
      setLoading(false);
    }
  }, [snapshot, store]);

  const reload = useCallback(() => {
    if (keyRef.current !== null) cache.delete(keyRef.current);
    skipCache.current = true;
    setGeneration((g) => g + 1);
  }, []);

  const update = useCallback(
    (fn: (items: readonly T[]) => readonly T[]) => {
      store(keyRef.current, { items: fn(snapshot.items), next: snapshot.next });
    },
    [snapshot, store],
  );

  return { items: snapshot.items, next: snapshot.next, loading, problem, loaded, loadMore, reload, update };
}

/** Changes the loaded rows of a cached list (an incident acted on elsewhere shows its new state there). */
export function patchCached<T>(key: string, fn: (items: readonly T[]) => readonly T[]): void {
  const snapshot = cache.get(key) as Snapshot<T> | undefined;
  if (snapshot) cache.set(key, { items: fn(snapshot.items), next: snapshot.next });
}
