// Which resources of which local accounts are bound on this node. Node state is kept this
// small on purpose: a cluster adds a second lookup ("which node holds this full JID") beside it.
export interface BoundSession {
  readonly local: string;
  readonly resource: string;
}

export class SessionRegistry<S extends BoundSession> {
  private readonly byLocal = new Map<string, Map<string, S>>();
  private count = 0;

  /** Binds a session; returns the session it replaces on the same full JID (RFC 6120 §7.7.2.2), if any. */
  bind(session: S): S | undefined {
    let resources = this.byLocal.get(session.local);
    if (!resources) {
      resources = new Map();
      this.byLocal.set(session.local, resources);
    }
    const previous = resources.get(session.resource);
    resources.set(session.resource, session);
    if (!previous) this.count++;
    return previous;
  }

  /** Removes a session if it is still the one bound to its full JID. */
  unbind(session: S): boolean {
    const resources = this.byLocal.get(session.local);
    if (resources?.get(session.resource) !== session) return false;
    resources.delete(session.resource);
    if (resources.size === 0) this.byLocal.delete(session.local);
    this.count--;
    return true;
  }

  get(local: string, resource: string): S | undefined {
    return this.byLocal.get(local)?.get(resource);
  }

  /** All bound resources of one account (empty when offline). */
  resourcesOf(local: string): Iterable<S> {
    return this.byLocal.get(local)?.values() ?? [];
  }

  has(local: string): boolean {
    return this.byLocal.has(local);
  }

  *all(): Iterable<S> {
    for (const resources of this.byLocal.values()) yield* resources.values();
  }

  get size(): number {
    return this.count;
  }
}
