// Cursor pagination ("load more"): pages are fetched one at a time, never the whole list. The
// loaded pages are kept per list key while the session lasts (forgotten at logout or when it
// ends: memory.ts), so leaving the queue for an incident and coming back shows the same rows at
// once, in the same place.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { problemFrom } from '../api.ts';
import { forgetOnSessionEnd } from '../memory.ts';
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
  /**
   * Asks for the first page again in the background and puts it in front of the rows loaded
   * beyond it: the rows stay on screen (no "loading" blank), so do the selection and the focus.
   */
  refresh(): Promise<void>;
  /** When the list was last fetched or refreshed (ms since the epoch), null before. */
  readonly fetchedAt: number | null;
  /** Replaces or removes one loaded item (after an action on it), keeping the rest. */
  update(fn: (items: readonly T[]) => readonly T[]): void;
}

export interface Snapshot<T> {
  items: readonly T[];
  next: string | null;
}

const MAX_CACHED_LISTS = 8;
const cache = new Map<string, Snapshot<unknown>>();
forgetOnSessionEnd(() => cache.clear());

function remember(key: string, snapshot: Snapshot<unknown>): void {
  cache.delete(key);
  cache.set(key, snapshot);
  while (cache.size > MAX_CACHED_LISTS) {
    const oldest = cache.keys().next().value;
    if (oldest === undefined) break;
    cache.delete(oldest);
  }
}

/**
 * Pure: the loaded rows after a fresh first page came in. Rows the first page now holds take the
 * place of what was loaded up to its last row; later loaded pages stay, their cursor too. Without
 * `idOf`, or when the first page's last row is not among the loaded ones, the first page alone.
 */
export function mergeFirstPage<T>(old: Snapshot<T>, fresh: Page<T>, idOf?: (item: T) => string): Snapshot<T> {
  const last = fresh.items[fresh.items.length - 1];
  if (idOf === undefined || last === undefined || fresh.next === null || old.items.length <= fresh.items.length) return { items: fresh.items, next: fresh.next };
  const lastId = idOf(last);
  const at = old.items.findIndex((item) => idOf(item) === lastId);
  if (at < 0) return { items: fresh.items, next: fresh.next };
  const seen = new Set(fresh.items.map(idOf));
  return { items: [...fresh.items, ...old.items.slice(at + 1).filter((item) => !seen.has(idOf(item)))], next: old.next };
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
export function usePaged<T>(
  key: string | null,
  fetchPage: (cursor: string | undefined) => Promise<Page<T>>,
  opts: { fresh?: boolean; idOf?: (item: T) => string } = {},
): PagedList<T> {
  const cached = key === null || opts.fresh ? undefined : (cache.get(key) as Snapshot<T> | undefined);
  const [snapshot, setSnapshot] = useState<Snapshot<T>>(cached ?? { items: [], next: null });
  const [loaded, setLoaded] = useState(cached !== undefined);
  const [loading, setLoading] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [generation, setGeneration] = useState(0);
  const [fetchedAt, setFetchedAt] = useState<number | null>(null);
  const keyRef = useRef(key);
  const snapshotRef = useRef(snapshot);
  snapshotRef.current = snapshot;
  const idOfRef = useRef(opts.idOf);
  idOfRef.current = opts.idOf;
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
        setFetchedAt(Date.now());
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

  const refresh = useCallback(async () => {
    const k = keyRef.current;
    if (k === null || busy.current) return;
    busy.current = true;
    try {
      const page = await fetchRef.current(undefined);
      if (keyRef.current !== k) return;
      store(k, mergeFirstPage(snapshotRef.current, page, idOfRef.current));
      setProblem(null);
      setLoaded(true);
      setFetchedAt(Date.now());
    } catch (err) {
      if (keyRef.current === k) setProblem(problemFrom(err));
    } finally {
      busy.current = false;
    }
  }, [store]);

  const update = useCallback(
    (fn: (items: readonly T[]) => readonly T[]) => {
      store(keyRef.current, { items: fn(snapshot.items), next: snapshot.next });
    },
    [snapshot, store],
  );

  return { items: snapshot.items, next: snapshot.next, loading, problem, loaded, loadMore, reload, refresh, fetchedAt, update };
}

/** No input for this long: stop refreshing by itself (so an unattended screen still lets its session time out). */
export const AUTO_REFRESH_IDLE_MS = 5 * 60_000;
let lastInputAt = Date.now();
for (const type of ['keydown', 'pointerdown', 'wheel'] as const) {
  window.addEventListener(type, () => void (lastInputAt = Date.now()), { capture: true, passive: true });
}

/**
 * Calls `refresh` every `everyMs` while the tab is visible and its person has used it in the last
 * AUTO_REFRESH_IDLE_MS, and when the tab becomes visible again after longer than that.
 */
export function useAutoRefresh(refresh: () => Promise<void>, everyMs: number): void {
  const current = useRef(refresh);
  current.current = refresh;
  useEffect(() => {
    let last = Date.now();
    const tick = () => {
      if (document.visibilityState !== 'visible' || Date.now() - lastInputAt > AUTO_REFRESH_IDLE_MS) return;
      last = Date.now();
      void current.current();
    };
    const timer = setInterval(tick, everyMs);
    const onVisible = () => {
      if (Date.now() - last >= everyMs) tick();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [everyMs]);
}

/** Changes the loaded rows of a cached list (an incident acted on elsewhere shows its new state there). */
export function patchCached<T>(key: string, fn: (items: readonly T[]) => readonly T[]): void {
  const snapshot = cache.get(key) as Snapshot<T> | undefined;
  if (snapshot) cache.set(key, { items: fn(snapshot.items), next: snapshot.next });
}
