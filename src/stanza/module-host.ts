// Holds what modules registered: iq handlers by (type, target, namespace), event hooks by
// priority, disco features, stream features and services. The router reads from it.
import type { Logger } from '../log.ts';
import type { Element } from '../xml.ts';
import type {
  EventHandler,
  IqHandler,
  IqTarget,
  ModuleContext,
  ServerEventName,
  ServerEvents,
  ServerServices,
  WardenModule,
} from './module-api.ts';

interface HookEntry {
  readonly priority: number;
  readonly handler: (payload: never) => boolean | void;
}

export class ModuleHost {
  private readonly iqHandlers = new Map<string, IqHandler>();
  private readonly hooks = new Map<ServerEventName, HookEntry[]>();
  private readonly features = new Set<string>();
  private readonly streamFeatures: Array<() => Element> = [];
  private readonly services: Partial<ServerServices> = {};
  readonly loaded: string[] = [];
  private readonly stoppers: Array<() => Promise<void>> = [];

  constructor(
    private readonly domain: string,
    private readonly log: Logger,
  ) {}

  load(module: WardenModule): void {
    const ctx: ModuleContext = {
      domain: this.domain,
      log: this.log.child({ module: module.name }),
      addFeature: (ns) => this.features.add(ns),
      addStreamFeature: (build) => this.streamFeatures.push(build),
      handleIq: (type, ns, target, handler) => {
        const key = iqKey(type, target, ns);
        if (this.iqHandlers.has(key)) throw new Error(`${module.name}: ${key} already has a handler`);
        this.iqHandlers.set(key, handler);
      },
      hook: (event, handler, priority = 0) => this.hook(event, handler, priority),
      provide: (name, service) => {
        if (this.services[name]) throw new Error(`${module.name}: service ${name} is already provided`);
        this.services[name] = service;
      },
      service: (name) => this.services[name],
      onStop: (fn) => this.stoppers.push(fn),
      emit: (event, payload) => this.emit(event, payload),
    };
    module.load(ctx);
    this.loaded.push(module.name);
  }

  hook<E extends ServerEventName>(event: E, handler: EventHandler<E>, priority = 0): void {
    const list = this.hooks.get(event) ?? [];
    list.push({ priority, handler: handler as HookEntry['handler'] });
    list.sort((a, b) => b.priority - a.priority);
    this.hooks.set(event, list);
  }

  /** Runs handlers from the highest priority down; true when one of them stopped the event. */
  emit<E extends ServerEventName>(event: E, payload: ServerEvents[E]): boolean {
    const list = this.hooks.get(event);
    if (!list) return false;
    for (const { handler } of list) {
      try {
        if ((handler as EventHandler<E>)(payload) === true) return true;
      } catch (err) {
        this.log.error(`hook ${event} failed`, { error: String(err) });
      }
    }
    return false;
  }

  iqHandler(type: 'get' | 'set', target: IqTarget, ns: string): IqHandler | undefined {
    return this.iqHandlers.get(iqKey(type, target, ns));
  }

  service<K extends keyof ServerServices>(name: K): ServerServices[K] | undefined {
    return this.services[name];
  }

  /** Sorted, for disco#info (XEP-0030 §3.1). */
  discoFeatures(): string[] {
    return [...this.features].sort();
  }

  /** Runs every module's stop work; storage closes after this. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.stoppers.map((fn) => fn()));
  }

  boundStreamFeatures(): Element[] {
    return this.streamFeatures.map((build) => build());
  }
}

const iqKey = (type: string, target: IqTarget, ns: string) => `${type}/${target}/${ns}`;
