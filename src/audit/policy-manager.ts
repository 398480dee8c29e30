// The live policy: compiled from the rule store, swapped atomically when rules change. A message
// is always scanned by one complete compiled policy — the old one until the new one is built.
import type { Logger } from '../log.ts';
import { compilePolicy, type CompiledPolicy, type ScanContext, type ScanResult } from './policy/policy.ts';
import type { RuleStore } from './rule-store.ts';

export interface LivePolicy {
  readonly version: number;
  /** Scans with the current policy, resolving the users' groups for rule scopes. */
  scan(text: string, ctx: Omit<ScanContext, 'fromGroups' | 'toGroups'>): ScanResult;
}

export class PolicyManager implements LivePolicy {
  private policy: CompiledPolicy;
  private groups = new Map<string, string[]>();
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  private queuedReload: Promise<void> | undefined;
  lastCompileMs = 0;

  private constructor(
    private readonly store: RuleStore,
    private readonly domain: string,
    private readonly log: Logger,
  ) {
    this.policy = compilePolicy([], 0);
  }

  static async start(store: RuleStore, domain: string, log: Logger, pollMs = 2000): Promise<PolicyManager> {
    const manager = new PolicyManager(store, domain, log);
    await manager.reload();
    // Other nodes (or the CLI) may change rules: notice a newer version within pollMs.
    manager.timer = setInterval(() => {
      store.latestVersion().then(
        (v) => (v > manager.version ? manager.reload() : undefined),
        (err: unknown) => log.warn('policy version check failed', { error: String(err) }),
      );
    }, pollMs);
    manager.timer.unref();
    return manager;
  }

  get version(): number {
    return this.policy.version;
  }

  get ruleCount(): number {
    return this.policy.ruleCount;
  }

  /**
   * Loads the latest rules and swaps them in once compiled. Resolves only once the live policy
   * reflects every change committed before the call: a reload already under way may have read
   * its snapshot too early, so a call during one queues one more (calls queued together share it).
   */
  reload(): Promise<void> {
    if (this.reloading) {
      this.queuedReload ??= this.reloading.then(
        () => this.runQueued(),
        () => this.runQueued(),
      );
      return this.queuedReload;
    }
    this.reloading = this.loadAndSwap().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private runQueued(): Promise<void> {
    this.queuedReload = undefined;
    return this.reload();
  }

  private async loadAndSwap(): Promise<void> {
    const snapshot = await this.store.snapshot();
    if (snapshot.version <= this.policy.version && this.policy.version !== 0) return;
    const started = performance.now();
    const compiled = compilePolicy(
      snapshot.rules.filter((r) => r.enabled),
      snapshot.version,
    );
    this.lastCompileMs = performance.now() - started;
    // The swap: two assignments in one synchronous step, so no scan sees a mix.
    this.policy = compiled;
    this.groups = snapshot.groups;
    this.log.info('policy loaded', { version: compiled.version, rules: compiled.ruleCount, compileMs: Math.round(this.lastCompileMs) });
  }

  scan(text: string, ctx: Omit<ScanContext, 'fromGroups' | 'toGroups'>): ScanResult {
    return this.policy.scan(text, { ...ctx, fromGroups: this.groupsOf(ctx.from), toGroups: this.groupsOf(ctx.to) });
  }

  private groupsOf(bare: string): readonly string[] | undefined {
    if (this.groups.size === 0) return undefined;
    const at = bare.indexOf('@');
    if (at < 0 || bare.slice(at + 1) !== this.domain) return undefined;
    return this.groups.get(bare.slice(0, at));
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
