// Console accounts (admin): POST/GET /api/v1/accounts, DELETE /api/v1/accounts/:username.
// Deleting an account ends its sessions and tokens with it (ON DELETE CASCADE).
import type { FastifyPluginAsync } from 'fastify';
import { CONSOLE_USERNAME, type ConsoleAccount, type ConsoleAccountStore } from '../../accounts/account-store.ts';
import { MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, hashPassword } from '../../accounts/password-hash.ts';
import type { AccessLog } from '../../audit/access-log.types.ts';
import type { ApiTokenStore } from '../../storage/api-token-store.ts';
import { badRequest, conflict, notFound, problemSchema, ProblemType } from '../errors.ts';
import { cursorSchema, decodePageCursor, limitSchema, page, pageSchema } from '../pagination.ts';
import { principalOf, ROLES, type Role } from '../principal.ts';

export interface AccountsRoutesDeps {
  readonly accounts: ConsoleAccountStore;
  readonly tokens: ApiTokenStore;
  readonly accessLog: AccessLog;
}

export const accountSchema = {
  type: 'object',
  required: ['username', 'role', 'createdAt', 'createdBy'],
  properties: { username: { type: 'string' }, role: { type: 'string', enum: [...ROLES] }, createdAt: { type: 'string', format: 'date-time' }, createdBy: { type: 'string' } },
} as const;

const usernameParams = { type: 'object', required: ['username'], properties: { username: { type: 'string', maxLength: 200 } } } as const;
const toJson = (a: ConsoleAccount) => ({ username: a.username, role: a.role, createdAt: a.createdAt.toISOString(), createdBy: a.createdBy });

export function accountsRoutes(deps: AccountsRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: { username: string; password: string; role: Role } }>(
      '/',
      {
        config: { roles: ['admin'] },
        schema: {
          body: {
            type: 'object',
            required: ['username', 'password', 'role'],
            additionalProperties: false,
            properties: {
              username: { type: 'string', minLength: 1, maxLength: 64 },
              password: { type: 'string', maxLength: MAX_PASSWORD_CHARS },
              role: { type: 'string', enum: [...ROLES] },
            },
          },
          response: { 201: accountSchema, 400: problemSchema, 409: problemSchema },
        },
      },
      async (request, reply) => {
        const { username, password, role } = request.body;
        if (!CONSOLE_USERNAME.test(username)) {
          throw badRequest('username: 1–64 characters a–z, 0–9, ".", "_" or "-", starting with a letter or digit.', ProblemType.invalidUsername, 'Invalid username');
        }
        if ([...password].length < MIN_PASSWORD_CHARS) {
          throw badRequest(`password: at least ${MIN_PASSWORD_CHARS} characters.`, ProblemType.invalidPassword, 'Invalid password');
        }
        const principal = principalOf(request);
        const created = await deps.accounts.create({ username, role, passwordHash: await hashPassword(password), createdBy: principal.actor });
        if (!created) throw conflict(`The console account ${username} exists.`, ProblemType.userExists, 'Account exists');
        await deps.accessLog.record({ principal, ip: request.ip, action: 'account.create', query: { username, role } });
        const account = await deps.accounts.get(username);
        if (account === undefined) throw notFound(`The console account ${username} was deleted as it was created.`);
        return reply.code(201).send(toJson(account));
      },
    );

    app.get<{ Querystring: { limit: number; cursor?: string } }>(
      '/',
      {
        config: { roles: ['admin'] },
        schema: {
          querystring: { type: 'object', additionalProperties: false, properties: { limit: limitSchema, cursor: cursorSchema } },
          response: { 200: pageSchema(accountSchema), 400: problemSchema },
        },
      },
      async (request) => {
        const { limit } = request.query;
        const after = decodePageCursor(request.query.cursor, (k) => CONSOLE_USERNAME.test(k));
        const rows = await deps.accounts.list({ limit: limit + 1, ...(after !== undefined && { after }) });
        const result = page(rows, limit, (a) => a.username);
        return { items: result.items.map(toJson), next: result.next };
      },
    );

    app.delete<{ Params: { username: string } }>(
      '/:username',
      { config: { roles: ['admin'] }, schema: { params: usernameParams, response: { 204: { type: 'null' }, 400: problemSchema, 404: problemSchema } } },
      async (request, reply) => {
        const { username } = request.params;
        const principal = principalOf(request);
        if (principal.account === username) throw badRequest('An administrator cannot delete their own account (ask another administrator).');
        if (!(await deps.accounts.delete(username))) {
          throw notFound(`There is no console account ${username}.`, ProblemType.userNotFound, 'No such account');
        }
        deps.tokens.clearCache();
        await deps.accessLog.record({ principal, ip: request.ip, action: 'account.delete', query: { username } });
        return reply.code(204).send();
      },
    );
  };
}
