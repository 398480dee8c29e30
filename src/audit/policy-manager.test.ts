import { describe, expect, it } from 'vitest';
import { silentLogger } from '../log.ts';
import { PolicyManager } from './policy-manager.ts';
import type { PolicySnapshot, RuleStore } from './rule-store.ts';
import type { Rule } from './policy/policy.ts';

/** A rule store whose snapshot() resolves when the test says, to stage a reload race. */
function slowStore() {
  let version = 0;
  const rules: Rule[] = [];
  const waiting: Array<() => void> = [];
  const store = {
    snapshot: () =>
      new Promise<PolicySnapshot>((resolve) => {
        const taken = { version, rules: [...rules], groups: new Map() };
        waiting.push(() => resolve(taken));
      }),
    latestVersion: async () => version,
  } as unknown as RuleStore;
  return {
    store,
    addRule(keyword: string) {
      rules.push({ id: `r${rules.length}`, name: keyword, type: 'keywords', keywords: [keyword], action: 'block', severity: 'high', enabled: true, scope: {} });
      version++;
    },
    releaseAll() {
      while (waiting.length) waiting.shift()!();
    },
  };
}

describe('PolicyManager.reload', () => {
  it('does not resolve a caller with a reload that read its snapshot before the caller’s change', async () => {
    const s = slowStore();
    const started = PolicyManager.start(s.store, 'localhost', silentLogger, 60_000);
    s.releaseAll();
    const manager = await started;
    s.addRule('alpha');
    const first = manager.reload(); // reads a snapshot holding alpha
    s.addRule('beta'); // committed while the first reload is under way
    const second = manager.reload();
    const flush = setInterval(() => s.releaseAll(), 5);
    await second;
    clearInterval(flush);
    await first;
    expect(manager.version).toBe(2);
    expect(manager.scan('beta here', { from: 'a@localhost', to: 'b@localhost', direction: 'internal', type: 'chat' }).verdict).toBe('block');
    manager.stop();
  });
});
