// What the console keeps in memory about the signed-in person beyond the page on screen: loaded
// list pages (components/paged.ts) and where the cursor was in each list (components/selection.ts).
// It is all forgotten when the session ends — on logout and on a 401 — so whoever uses the browser
// next sees nothing of it, even by opening the same address.

const forgetters = new Set<() => void>();

/** Registers how to forget one module's memory (called once, at module load). */
export function forgetOnSessionEnd(forget: () => void): void {
  forgetters.add(forget);
}

/** Forgets everything registered. */
export function forgetEverything(): void {
  for (const forget of forgetters) forget();
}
