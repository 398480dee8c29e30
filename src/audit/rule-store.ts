// Rules in PostgreSQL. Every change writes a new policy version holding a snapshot of the
// enabled rules, in the same transaction, so each archived verdict can be explained later.
import { randomBytes } from 'node:crypto';
import type { Sql, TransactionSql } from 'postgres';
import type { Rule, RuleInput } from './policy/policy.ts';

interface RuleRow {
  id: string;
  name: string;
  type: Rule['type'];
  keywords: string[] | null;
  pattern: string | null;
  flags: string | null;
  detector: string | null;
  action: Rule['action'];
  severity: Rule['severity'];
  enabled: boolean;
  scope: Rule['scope'];
  created_at: Date;
  updated_at: Date;
}

export interface StoredRule extends Rule {
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface PolicySnapshot {
  readonly version: number;
  readonly rules: Rule[];
  /** username → groups, for rule scopes. */
  readonly groups: Map<string, string[]>;
}

export interface RuleStore {
  create(input: RuleInput): Promise<{ rule: StoredRule; version: number }>;
  update(id: string, input: RuleInput): Promise<{ rule: StoredRule; version: number } | undefined>;
  delete(id: string): Promise<{ version: number } | undefined>;
  get(id: string): Promise<StoredRule | undefined>;
  list(): Promise<StoredRule[]>;
  latestVersion(): Promise<number>;
  /** The latest version with the rules it holds (enabled or not) and group memberships. */
  snapshot(): Promise<PolicySnapshot>;
  setGroupMembers(group: string, usernames: readonly string[]): Promise<{ version: number }>;
  groupMembers(group: string): Promise<string[]>;
}

function toRule(r: RuleRow): StoredRule {
  const rule: StoredRule = {
    id: r.id,
    name: r.name,
    type: r.type,
    action: r.action,
    severity: r.severity,
    enabled: r.enabled,
    scope: r.scope ?? {},
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
  if (r.keywords) rule.keywords = r.keywords;
  if (r.pattern !== null) rule.pattern = r.pattern;
  if (r.flags !== null) rule.flags = r.flags;
  if (r.detector !== null) rule.detector = r.detector as Rule['detector'];
  return rule;
}

export function createRuleStore(sql: Sql): RuleStore {
  const columns = (input: RuleInput) => ({
    name: input.name,
    type: input.type,
    keywords: input.type === 'keywords' ? (input.keywords ?? []) : null,
    pattern: input.type === 'regex' ? (input.pattern ?? null) : null,
    flags: input.type === 'regex' ? (input.flags ?? '') : null,
    detector: input.type === 'detector' ? (input.detector ?? null) : null,
    action: input.action,
    severity: input.severity,
    enabled: input.enabled ?? true,
  });

  async function newVersion(tx: TransactionSql, reason: string): Promise<number> {
    const rules = await tx<RuleRow[]>`SELECT * FROM rules WHERE deleted_at IS NULL AND enabled ORDER BY id`;
    const snapshot = rules.map((r) => {
      const { createdAt: _c, updatedAt: _u, ...rule } = toRule(r);
      return rule;
    });
    const [row] = await tx<{ version: string }[]>`
      INSERT INTO policy_versions (reason, rules) VALUES (${reason}, ${tx.json(snapshot as never)}) RETURNING version`;
    return Number(row!.version);
  }

  return {
    async create(input) {
      const id = `r_${randomBytes(9).toString('base64url')}`;
      return sql.begin(async (tx) => {
        const c = columns(input);
        const [row] = await tx<RuleRow[]>`
          INSERT INTO rules (id, name, type, keywords, pattern, flags, detector, action, severity, enabled, scope)
          VALUES (${id}, ${c.name}, ${c.type}, ${c.keywords}, ${c.pattern}, ${c.flags}, ${c.detector}, ${c.action},
                  ${c.severity}, ${c.enabled}, ${tx.json((input.scope ?? {}) as never)})
          RETURNING *`;
        const version = await newVersion(tx, `rule ${id} created`);
        return { rule: toRule(row!), version };
      });
    },
    async update(id, input) {
      return sql.begin(async (tx) => {
        const c = columns(input);
        const [row] = await tx<RuleRow[]>`
          UPDATE rules SET name = ${c.name}, type = ${c.type}, keywords = ${c.keywords}, pattern = ${c.pattern},
                 flags = ${c.flags}, detector = ${c.detector}, action = ${c.action}, severity = ${c.severity},
                 enabled = ${c.enabled}, scope = ${tx.json((input.scope ?? {}) as never)}, updated_at = now()
          WHERE id = ${id} AND deleted_at IS NULL RETURNING *`;
        if (!row) return undefined;
        const version = await newVersion(tx, `rule ${id} updated`);
        return { rule: toRule(row), version };
      });
    },
    async delete(id) {
      return sql.begin(async (tx) => {
        const [row] = await tx`UPDATE rules SET deleted_at = now() WHERE id = ${id} AND deleted_at IS NULL RETURNING id`;
        if (!row) return undefined;
        return { version: await newVersion(tx, `rule ${id} deleted`) };
      });
    },
    async get(id) {
      const [row] = await sql<RuleRow[]>`SELECT * FROM rules WHERE id = ${id} AND deleted_at IS NULL`;
      return row ? toRule(row) : undefined;
    },
    async list() {
      const rows = await sql<RuleRow[]>`SELECT * FROM rules WHERE deleted_at IS NULL ORDER BY created_at, id`;
      return rows.map(toRule);
    },
    async latestVersion() {
      const [row] = await sql<{ v: string | null }[]>`SELECT max(version) AS v FROM policy_versions`;
      return Number(row?.v ?? 0);
    },
    async snapshot() {
      // One transaction so the version, the rules and the groups belong together.
      return sql.begin(async (tx) => {
        const [v] = await tx<{ v: string | null }[]>`SELECT max(version) AS v FROM policy_versions`;
        const rows = await tx<RuleRow[]>`SELECT * FROM rules WHERE deleted_at IS NULL ORDER BY id`;
        const memberships = await tx<{ username: string; group_name: string }[]>`SELECT username, group_name FROM user_groups`;
        const groups = new Map<string, string[]>();
        for (const m of memberships) {
          const list = groups.get(m.username) ?? [];
          list.push(m.group_name);
          groups.set(m.username, list);
        }
        return { version: Number(v?.v ?? 0), rules: rows.map(toRule), groups };
      });
    },
    async setGroupMembers(group, usernames) {
      return sql.begin(async (tx) => {
        await tx`DELETE FROM user_groups WHERE group_name = ${group}`;
        if (usernames.length > 0) {
          await tx`INSERT INTO user_groups ${tx(usernames.map((username) => ({ group_name: group, username })))}`;
        }
        return { version: await newVersion(tx, `group ${group} members set`) };
      });
    },
    async groupMembers(group) {
      const rows = await sql<{ username: string }[]>`SELECT username FROM user_groups WHERE group_name = ${group} ORDER BY username`;
      return rows.map((r) => r.username);
    },
  };
}
