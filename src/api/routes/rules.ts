// Audit rules: /api/v1/rules, and user groups for rule scopes: /api/v1/groups. Every change
// makes a new policy version; the response returns once the live policy has swapped to it.
import type { FastifyPluginAsync } from 'fastify';
import type { PolicyManager } from '../../audit/policy-manager.ts';
import { validateRuleInput, type RuleInput } from '../../audit/policy/policy.ts';
import type { RuleStore, StoredRule } from '../../audit/rule-store.ts';
import { LARGE_BODY_LIMIT } from '../body-limit.ts';
import { ApiProblem, badRequest, notFound, problemSchema } from '../errors.ts';
import { cursorSchema, decodePageCursor, limitSchema, page } from '../pagination.ts';

export interface RulesRouteDeps {
  readonly rules: RuleStore;
  readonly policy: Pick<PolicyManager, 'reload' | 'version'>;
  /** Normalises a localpart (RFC 7622); undefined when invalid. */
  readonly normalizeLocalpart: (raw: string) => string | undefined;
}

const scopeSchema = {
  type: 'object',
  properties: {
    users: { type: 'array', items: { type: 'string' } },
    groups: { type: 'array', items: { type: 'string' } },
    directions: { type: 'array', items: { type: 'string' } },
    types: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const ruleSchema = {
  type: 'object',
  required: ['id', 'name', 'type', 'action', 'severity', 'enabled', 'scope', 'createdAt', 'updatedAt'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    type: { type: 'string', enum: ['keywords', 'regex', 'detector'] },
    keywords: { type: 'array', items: { type: 'string' } },
    pattern: { type: 'string' },
    flags: { type: 'string' },
    detector: { type: 'string' },
    action: { type: 'string', enum: ['flag', 'redact', 'block', 'hold'] },
    severity: { type: 'string', enum: ['low', 'medium', 'high', 'critical'] },
    enabled: { type: 'boolean' },
    scope: scopeSchema,
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    policyVersion: { type: 'integer' },
  },
} as const;

// Rule bodies are checked by validateRuleInput, which names each bad field in a sentence
// (e.g. "pattern: invalid regular expression: missing )"); the schema only bounds the size.
const ruleBodySchema = { type: 'object', maxProperties: 20 } as const;
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 100 } } } as const;

function validated(body: unknown): RuleInput {
  const result = validateRuleInput(body);
  if (!result.ok) {
    throw new ApiProblem(400, `Invalid rule: ${result.errors.join('; ')}`, {
      type: 'urn:warden:problem:invalid-rule',
      title: 'Invalid rule',
      errors: result.errors,
    });
  }
  return result.rule;
}

/** GET /rules answers this many rules when no `limit` is given (more than the other lists: the console shows them all at once). */
export const DEFAULT_RULES_PAGE = 100;
/** A rule's place in the list, and its cursor: creation time in ms since 1970, a space, the id. */
const ruleKey = (rule: StoredRule) => `${rule.createdAt.getTime()} ${rule.id}`;
const RULE_CURSOR = /^(0|[1-9][0-9]{0,15}) \S{1,100}$/;
/** Pure: the order of two rule keys — by time as a number, then by id. */
function compareRuleKeys(a: string, b: string): number {
  const [ta = '', ia = ''] = a.split(' ');
  const [tb = '', ib = ''] = b.split(' ');
  const byTime = Number(ta) - Number(tb);
  if (byTime !== 0) return byTime;
  return ia < ib ? -1 : ia > ib ? 1 : 0;
}

const present = (rule: StoredRule, policyVersion?: number) => ({
  ...rule,
  createdAt: rule.createdAt.toISOString(),
  updatedAt: rule.updatedAt.toISOString(),
  ...(policyVersion === undefined ? {} : { policyVersion }),
});

export function rulesRoutes(deps: RulesRouteDeps): FastifyPluginAsync {
  return async (app) => {
    const noSuchRule = (id: string) => notFound(`There is no rule ${JSON.stringify(id)}.`);

    app.post('/', { config: { roles: ['admin'] }, schema: { body: ruleBodySchema, response: { 201: ruleSchema, 400: problemSchema } } }, async (request, reply) => {
      const { rule, version } = await deps.rules.create(validated(request.body));
      await deps.policy.reload();
      return reply.code(201).send(present(rule, version));
    });

    // Oldest first, by (createdAt, id); a page starts after its cursor's rule, so rules added or
    // deleted between pages shift nothing already seen. `policyVersion` is the live version as
    // each page is answered.
    app.get<{ Querystring: { limit: number; cursor?: string } }>('/', {
      config: { roles: ['admin', 'officer'] },
      schema: {
        querystring: { type: 'object', additionalProperties: false, properties: { limit: { ...limitSchema, default: DEFAULT_RULES_PAGE }, cursor: cursorSchema } },
        response: {
          200: {
            type: 'object',
            required: ['items', 'policyVersion', 'next'],
            properties: { items: { type: 'array', items: ruleSchema }, policyVersion: { type: 'integer' }, next: { type: ['string', 'null'] } },
          },
          400: problemSchema,
        },
      },
    }, async (request) => {
      const { limit } = request.query;
      const after = decodePageCursor(request.query.cursor, (key) => RULE_CURSOR.test(key));
      // The store reads every rule (there are few); milliseconds, as the cursor holds them.
      const sorted = (await deps.rules.list()).sort((a, b) => compareRuleKeys(ruleKey(a), ruleKey(b)));
      const rest = after === undefined ? sorted : sorted.filter((r) => compareRuleKeys(ruleKey(r), after) > 0);
      const result = page(rest.slice(0, limit + 1), limit, ruleKey);
      return { items: result.items.map((r) => present(r)), policyVersion: deps.policy.version, next: result.next };
    });

    app.get<{ Params: { id: string } }>('/:id', { config: { roles: ['admin', 'officer'] }, schema: { params: idParams, response: { 200: ruleSchema, 404: problemSchema } } }, async (request) => {
      const rule = await deps.rules.get(request.params.id);
      if (!rule) throw noSuchRule(request.params.id);
      return present(rule);
    });

    app.put<{ Params: { id: string } }>(
      '/:id',
      { config: { roles: ['admin'] }, schema: { params: idParams, body: ruleBodySchema, response: { 200: ruleSchema, 400: problemSchema, 404: problemSchema } } },
      async (request) => {
        const updated = await deps.rules.update(request.params.id, validated(request.body));
        if (!updated) throw noSuchRule(request.params.id);
        await deps.policy.reload();
        return present(updated.rule, updated.version);
      },
    );

    app.delete<{ Params: { id: string } }>(
      '/:id',
      { config: { roles: ['admin'] }, schema: { params: idParams, response: { 204: { description: 'The rule was deleted; the live policy no longer has it.', type: 'null' }, 404: problemSchema } } },
      async (request, reply) => {
        const deleted = await deps.rules.delete(request.params.id);
        if (!deleted) throw noSuchRule(request.params.id);
        await deps.policy.reload();
        return reply.code(204).send();
      },
    );
  };
}

export function groupsRoutes(deps: RulesRouteDeps): FastifyPluginAsync {
  return async (app) => {
    const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: 200 } } } as const;
    const membersSchema = {
      type: 'object',
      required: ['name', 'members'],
      properties: { name: { type: 'string' }, members: { type: 'array', items: { type: 'string' } }, policyVersion: { type: 'integer' } },
    } as const;

    app.get<{ Params: { name: string } }>('/:name', { config: { roles: ['admin'] }, schema: { params: nameParams, response: { 200: membersSchema } } }, async (request) => ({
      name: request.params.name,
      members: await deps.rules.groupMembers(request.params.name),
    }));

    app.put<{ Params: { name: string }; Body: { members: string[] } }>(
      '/:name',
      {
        config: { roles: ['admin'] },
        // Up to 100 000 member names: more than the API's 64 KiB default.
        bodyLimit: LARGE_BODY_LIMIT,
        schema: {
          params: nameParams,
          body: { type: 'object', required: ['members'], additionalProperties: false, properties: { members: { type: 'array', maxItems: 100_000, items: { type: 'string', minLength: 1, maxLength: 1023 } } } },
          response: { 200: membersSchema, 400: problemSchema, 413: problemSchema },
        },
      },
      async (request) => {
        const members: string[] = [];
        for (const raw of request.body.members) {
          const local = deps.normalizeLocalpart(raw.split('@')[0] ?? '');
          if (local === undefined) throw badRequest(`${JSON.stringify(raw)} is not a valid username.`);
          members.push(local);
        }
        const unique = [...new Set(members)];
        const { version } = await deps.rules.setGroupMembers(request.params.name, unique).catch((err: unknown) => {
          // A member that is not an account violates the foreign key.
          if (err instanceof Error && /foreign key/i.test(err.message)) throw badRequest('Every member must be an existing user.');
          throw err;
        });
        await deps.policy.reload();
        return { name: request.params.name, members: unique.sort(), policyVersion: version };
      },
    );
  };
}
