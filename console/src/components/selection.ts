// The selected row of a keyboard-driven list (j/k), remembered per list key so that coming back
// from a detail page puts the cursor where it was.
import { useEffect, useRef, useState } from 'preact/hooks';
import { scrollSelectedIntoView, useKeys } from '../keys.ts';

const remembered = new Map<string, number>();

export interface ListNavigation {
  readonly selected: number;
  select(index: number): void;
  /** Pass as the list container's ref: the selected row is scrolled into view there. */
  readonly attach: (el: HTMLElement | null) => void;
}

/**
 * j/k (and arrow keys) move the selection; Enter/o call `open` with the selected index. Moving
 * past the last loaded row calls `loadMore` when there is more.
 */
export function useListNavigation(key: string, count: number, open: (index: number) => void, loadMore?: () => void): ListNavigation {
  const [selected, setSelected] = useState(() => remembered.get(key) ?? 0);
  const containerRef = useRef<HTMLElement | null>(null);

  useEffect(() => setSelected(remembered.get(key) ?? 0), [key]);
  useEffect(() => {
    remembered.set(key, selected);
    scrollSelectedIntoView(containerRef.current);
  }, [key, selected]);

  const select = (index: number) => setSelected(Math.max(0, Math.min(index, Math.max(0, count - 1))));
  const down = () => {
    if (selected >= count - 1) loadMore?.();
    select(selected + 1);
  };
  const up = () => select(selected - 1);
  const openSelected = () => {
    if (count > 0) open(Math.min(selected, count - 1));
  };
  useKeys({ j: down, ArrowDown: down, k: up, ArrowUp: up, Enter: openSelected, o: openSelected, Home: () => select(0), End: () => select(count - 1) });
  const attach = (el: HTMLElement | null) => {
    containerRef.current = el;
  };
  return { selected: Math.min(selected, Math.max(0, count - 1)), select, attach };
}
