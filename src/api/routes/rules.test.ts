// Rules, groups and the dry run through the real app against an in-memory rule store: the rule
// list is paged like every list (without losing its policyVersion), and the two routes whose
// bodies are large by nature take up to 2 MiB while the rest stay at 64 KiB.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fakeApiDeps } from '../../../test/support/fake-auth.ts';
import type { RuleInput } from '../../audit/policy/policy.ts';
import type { PolicySnapshot, RuleStore, StoredRule } from '../../audit/rule-store.ts';
import { buildApiApp } from '../app.ts';
import { API_BODY_LIMIT, LARGE_BODY_LIMIT } from '../body-limit.ts';
import { auditScanRoutes } from './audit-scan.ts';
import { DEFAULT_RULES_PAGE, groupsRoutes, rulesRoutes } from './rules.ts';

const ADMIN = 'admin-token-0123456789';
const OFFICER = 'officer-token-0123456789';

/** Rules in memory; `list()` in the SQL store's order (creation time, then id). */
class MemoryRules implements RuleStore {
  rules: StoredRule[] = [];
  version = 1;
  members = new Map<string, string[]>();
  add(id: string, createdAt: Date): StoredRule {
    const rule: StoredRule = { id, name: id, type: 'keywords', keywords: ['x'], action: 'flag', severity: 'low', enabled: true, scope: {}, createdAt, updatedAt: createdAt };
    this.rules.push(rule);
    return rule;
  }
  async create(input: RuleInput) {
    const rule = this.add(`r_${this.rules.length}`, new Date());
    return { rule: { ...rule, name: input.name }, version: ++this.version };
  }
  async update() {
    return undefined;
  }
  async delete(id: string) {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    return this.rules.length < before ? { version: ++this.version } : undefined;
  }
  async get(id: string) {
    return this.rules.find((r) => r.id === id);
  }
  async list() {
    return [...this.rules].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1));
  }
  async latestVersion() {
    return this.version;
  }
  async snapshot(): Promise<PolicySnapshot> {
    return { version: this.version, rules: this.rules, groups: new Map() };
  }
  async setGroupMembers(group: string, usernames: readonly string[]) {
    this.members.set(group, [...usernames]);
    return { version: ++this.version };
  }
  async groupMembers(group: string) {
    return this.members.get(group) ?? [];
  }
}

const store = new MemoryRules();
const policy = { version: 7, reload: async () => {} };
let app: FastifyInstance;

beforeAll(async () => {
  const routeDeps = { rules: store, policy, normalizeLocalpart: (raw: string) => (raw === '' ? undefined : raw.toLowerCase()) };
  app = await buildApiApp(fakeApiDeps('example.org', { [ADMIN]: 'admin', [OFFICER]: 'officer' }), {
    resources: [
      { prefix: '/v1/rules', plugin: rulesRoutes(routeDeps) },
      { prefix: '/v1/groups', plugin: groupsRoutes(routeDeps) },
      {
        prefix: '/v1/audit',
        plugin: auditScanRoutes({ domain: 'example.org', policy: { version: 7, scan: () => ({ verdict: 'allow', matches: [] }) }, decisions: { encryptedAction: 'block' } }),
      },
    ],
  });
});
afterAll(async () => {
  await app?.close();
});

const as = (token: string) => ({ authorization: `Bearer ${token}` });
type RulesPage = { items: Array<{ id: string }>; policyVersion: number; next: string | null };
const list = async (query = '', token = ADMIN) => app.inject({ method: 'GET', url: `/api/v1/rules${query}`, headers: as(token) });

describe('GET /api/v1/rules', () => {
  beforeEach(() => {
    store.rules = [];
  });

  it('keeps its answer for a short list: every rule, the live policy version, and next: null', async () => {
    store.add('r_b', new Date('2026-01-02T00:00:00Z'));
    store.add('r_a', new Date('2026-01-01T00:00:00Z'));
    const res = await list('', OFFICER);
    expect(res.statusCode).toBe(200);
    const body = res.json() as RulesPage;
    expect(body.items.map((r) => r.id)).toEqual(['r_a', 'r_b']);
    expect(body).toMatchObject({ policyVersion: 7, next: null });
  });

  it(`answers ${DEFAULT_RULES_PAGE} rules by default and pages on with next as cursor`, async () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    for (let i = 0; i < DEFAULT_RULES_PAGE + 5; i++) store.add(`r_${String(i).padStart(3, '0')}`, new Date(t0 + i * 1000));
    const first = (await list()).json() as RulesPage;
    expect(first.items).toHaveLength(DEFAULT_RULES_PAGE);
    expect(first.next).toEqual(expect.any(String));
    const second = (await list(`?cursor=${first.next}`)).json() as RulesPage;
    expect(second.items.map((r) => r.id)).toEqual(['r_100', 'r_101', 'r_102', 'r_103', 'r_104']);
    expect(second).toMatchObject({ policyVersion: 7, next: null });
  });

  it('pages rules created in the same millisecond by id, and a rule deleted between pages shifts nothing', async () => {
    const same = new Date('2026-01-01T00:00:00.123Z');
    for (const id of ['r_c', 'r_a', 'r_d', 'r_b']) store.add(id, same);
    const first = (await list('?limit=2')).json() as RulesPage;
    expect(first.items.map((r) => r.id)).toEqual(['r_a', 'r_b']);
    store.rules = store.rules.filter((r) => r.id !== 'r_b');
    const second = (await list(`?limit=2&cursor=${first.next}`)).json() as RulesPage;
    expect(second.items.map((r) => r.id)).toEqual(['r_c', 'r_d']);
    expect(second.next).toBeNull();
  });

  it.each(['?limit=0', '?limit=501', '?cursor=abc', `?cursor=${Buffer.from('soon r_a').toString('base64url')}`, '?after=r_a'])(
    'refuses %s with 400',
    async (query) => {
      const res = await list(query);
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    },
  );

  it('answers up to 500 rules when asked', async () => {
    for (let i = 0; i < 501; i++) store.add(`r_${String(i).padStart(3, '0')}`, new Date(Date.parse('2026-01-01T00:00:00Z') + i));
    const body = (await list('?limit=500')).json() as RulesPage;
    expect(body.items).toHaveLength(500);
    expect(body.next).toEqual(expect.any(String));
  });
});

describe('body limits', () => {
  /** A JSON body of about `bytes` bytes. */
  const membersOf = (bytes: number) => ({ members: Array.from({ length: Math.ceil(bytes / 1000) }, (_, i) => `user${i}`.padEnd(990, 'x')) });

  it('takes a group of more than 64 KiB of members', async () => {
    const body = membersOf(1024 * 1024);
    expect(JSON.stringify(body).length).toBeGreaterThan(API_BODY_LIMIT);
    const res = await app.inject({ method: 'PUT', url: '/api/v1/groups/sales', headers: as(ADMIN), payload: body });
    expect(res.statusCode).toBe(200);
    expect((res.json() as { members: string[] }).members).toHaveLength(body.members.length);
  });

  it('takes a dry run of a long message over 64 KiB', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/audit/scan', headers: as(OFFICER), payload: { text: '机密'.repeat(100_000) } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ verdict: 'allow' });
  });

  it('refuses a body past 2 MiB with a 413 naming that limit', async () => {
    const body = membersOf(LARGE_BODY_LIMIT * 1.1);
    expect(JSON.stringify(body).length).toBeGreaterThan(LARGE_BODY_LIMIT);
    const res = await app.inject({ method: 'PUT', url: '/api/v1/groups/sales', headers: as(ADMIN), payload: body });
    expect(res.statusCode).toBe(413);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 413, detail: 'The request body is larger than this route accepts (2 MiB).' });
  });

  it('keeps other routes at 64 KiB, and says so', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/rules', headers: as(ADMIN), payload: { name: 'x'.repeat(API_BODY_LIMIT) } });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ detail: 'The request body is larger than this route accepts (64 KiB).' });
  });
});

describe('DELETE /api/v1/rules/:id', () => {
  it('answers 204 with no body', async () => {
    store.add('r_gone', new Date());
    const res = await app.inject({ method: 'DELETE', url: '/api/v1/rules/r_gone', headers: as(ADMIN) });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
  });
});
