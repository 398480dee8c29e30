// The selected row of a keyboard-driven list (j/k), remembered per list key so that coming back
// from a detail page puts the cursor where it was.
import { useEffect, useRef, useState } from 'preact/hooks';
import { scrollSelectedIntoView, useKeys } from '../keys.ts';
import { forgetOnSessionEnd } from '../memory.ts';

const remembered = new Map<string, number>();
forgetOnSessionEnd(() => remembered.clear());

export interface ListNavigation {
  readonly selected: number;
  select(index: number): void;
  /** Pass as the list container's ref: the selected row is scrolled into view there. */
  readonly attach: (el: HTMLElement | null) => void;
}

/**
 * j/k (and arrow keys) move the selection; Enter/o call `open` with the selected index. Moving
 * past the last loaded row calls `loadMore` when there is more. With `ids` (the rows' ids, in
 * order) the selection follows its row when rows arrive above it (a list refreshed by itself).
 */
export function useListNavigation(key: string, count: number, open: (index: number) => void, loadMore?: () => void, ids?: readonly string[]): ListNavigation {
  const [selected, setSelected] = useState(() => remembered.get(key) ?? 0);
  const containerRef = useRef<HTMLElement | null>(null);
  const selectedId = useRef<string | undefined>(undefined);

  useEffect(() => {
    selectedId.current = undefined;
    setSelected(remembered.get(key) ?? 0);
  }, [key]);
  // The selected row by id, worked out while rendering (not in an effect, which runs after the
  // paint): when rows arrive above it, the mark moves with its row in the same frame.
  const followed = ids === undefined || selectedId.current === undefined ? -1 : ids.indexOf(selectedId.current);
  const current = followed >= 0 ? followed : Math.min(selected, Math.max(0, count - 1));
  if (ids !== undefined && ids.length > 0 && followed < 0) {
    // First rows, or the selected row left the list (decided elsewhere): keep the place.
    selectedId.current = ids[current];
  }
  useEffect(() => {
    if (current !== selected) setSelected(current);
  }, [current, selected]);
  useEffect(() => {
    remembered.set(key, current);
    scrollSelectedIntoView(containerRef.current);
  }, [key, current]);

  const select = (index: number) => {
    const clamped = Math.max(0, Math.min(index, Math.max(0, count - 1)));
    selectedId.current = ids?.[clamped];
    setSelected(clamped);
  };
  const down = () => {
    if (current >= count - 1) loadMore?.();
    select(current + 1);
  };
  const up = () => select(current - 1);
  const openSelected = () => {
    if (count > 0) open(current);
  };
  useKeys({ j: down, ArrowDown: down, k: up, ArrowUp: up, Enter: openSelected, o: openSelected, Home: () => select(0), End: () => select(count - 1) });
  const attach = (el: HTMLElement | null) => {
    containerRef.current = el;
  };
  return { selected: current, select, attach };
}
