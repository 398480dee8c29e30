// Console accounts: POST/GET /api/v1/accounts, DELETE /api/v1/accounts/:username (admin), and
// PUT /api/v1/accounts/:username/password (an admin for anyone; an account for itself, with its
// current password). Deleting an account ends its sessions and tokens with it (ON DELETE
// CASCADE); the last administrator account cannot be deleted. Every change and its access-log
// entry commit in one transaction.
import type { FastifyPluginAsync } from 'fastify';
import { CONSOLE_USERNAME, type ConsoleAccount, type ConsoleAccountStore } from '../../accounts/account-store.ts';
import { MAX_PASSWORD_CHARS, hashPassword, newPasswordProblem, verifyPassword } from '../../accounts/password-hash.ts';
import type { AccessAction, AccessEntry, TransactionalAccessLog } from '../../audit/access-log.types.ts';
import { addressThrottleKey, LoginThrottle } from '../../auth/throttle.ts';
import type { ApiTokenStore } from '../../storage/api-token-store.ts';
import { forbidden, sessionCookieOf, tooManyAttempts } from '../auth.ts';
import { ApiProblem, badRequest, conflict, notFound, problemSchema, ProblemType } from '../errors.ts';
import { cursorSchema, decodePageCursor, limitSchema, page, pageSchema } from '../pagination.ts';
import { principalOf, ROLES, type Role } from '../principal.ts';

export interface AccountsRoutesDeps {
  readonly accounts: ConsoleAccountStore;
  readonly tokens: ApiTokenStore;
  readonly accessLog: TransactionalAccessLog;
  /**
   * Counts wrong current passwords in a password change (keys 'ip:<address>', 'account:<name>'):
   * share the login throttle, so a stolen session cannot guess the password here instead.
   * Default: a throttle of these routes' own.
   */
  readonly throttle?: LoginThrottle;
}

const PASSWORD_CHANGED: AccessAction = 'account.password';

export const accountSchema = {
  type: 'object',
  required: ['username', 'role', 'createdAt', 'createdBy'],
  properties: { username: { type: 'string' }, role: { type: 'string', enum: [...ROLES] }, createdAt: { type: 'string', format: 'date-time' }, createdBy: { type: 'string' } },
} as const;

const usernameParams = { type: 'object', required: ['username'], properties: { username: { type: 'string', maxLength: 200 } } } as const;
const toJson = (a: ConsoleAccount) => ({ username: a.username, role: a.role, createdAt: a.createdAt.toISOString(), createdBy: a.createdBy });
const invalidPassword = (problem: string) => badRequest(`password: ${problem}.`, ProblemType.invalidPassword, 'Invalid password');
const noSuchAccount = (username: string) => notFound(`There is no console account ${username}.`, ProblemType.userNotFound, 'No such account');

export function accountsRoutes(deps: AccountsRoutesDeps): FastifyPluginAsync {
  const throttle = deps.throttle ?? new LoginThrottle();
  const logged = (entry: AccessEntry) => (tx: Parameters<TransactionalAccessLog['recordIn']>[0]) => deps.accessLog.recordIn(tx, entry);
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
        const problem = newPasswordProblem(password);
        if (problem !== undefined) throw invalidPassword(problem);
        const principal = principalOf(request);
        const entry: AccessEntry = { principal, ip: request.ip, action: 'account.create', query: { username, role } };
        const created = await deps.accounts.create({ username, role, passwordHash: await hashPassword(password), createdBy: principal.actor }, logged(entry));
        if (!created) throw conflict(`The console account ${username} exists.`, ProblemType.userExists, 'Account exists');
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
      { config: { roles: ['admin'] }, schema: { params: usernameParams, response: { 204: { type: 'null' }, 400: problemSchema, 404: problemSchema, 409: problemSchema } } },
      async (request, reply) => {
        const { username } = request.params;
        const principal = principalOf(request);
        if (principal.account === username) throw badRequest('An administrator cannot delete their own account (ask another administrator).');
        const result = await deps.accounts.delete(username, logged({ principal, ip: request.ip, action: 'account.delete', query: { username } }));
        if (result === 'not-found') throw noSuchAccount(username);
        if (result === 'last-admin') {
          throw conflict(`${username} is the last administrator account; create another administrator first.`, 'urn:warden:problem:last-admin', 'Last administrator');
        }
        deps.tokens.clearCache();
        return reply.code(204).send();
      },
    );

    app.put<{ Params: { username: string }; Body: { password: string; currentPassword?: string } }>(
      '/:username/password',
      {
        // Any account for itself; the handler lets an admin change anyone's.
        config: { roles: 'any' },
        schema: {
          params: usernameParams,
          body: {
            type: 'object',
            required: ['password'],
            additionalProperties: false,
            properties: {
              password: { type: 'string', maxLength: MAX_PASSWORD_CHARS },
              currentPassword: { type: 'string', minLength: 1, maxLength: MAX_PASSWORD_CHARS },
            },
          },
          response: { 204: { type: 'null' }, 400: problemSchema, 403: problemSchema, 404: problemSchema, 429: problemSchema },
        },
      },
      async (request, reply) => {
        const { username } = request.params;
        const { password, currentPassword } = request.body;
        const principal = principalOf(request);
        const own = principal.account === username;
        if (!own && principal.role !== 'admin') throw forbidden(`${principal.actor} may only change their own password.`);
        const problem = newPasswordProblem(password);
        if (problem !== undefined) throw invalidPassword(problem);
        const stored = await deps.accounts.passwordHash(username);
        if (stored === undefined) throw noSuchAccount(username);
        // Your own password, admin or not, needs the current one: a session or token left open
        // (or stolen) must not be enough to take the account over.
        if (own) {
          if (currentPassword === undefined) throw badRequest('currentPassword: required to change your own password.');
          await checkCurrentPassword(request.ip, username, currentPassword, stored.passwordHash);
        }
        const entry: AccessEntry = { principal, ip: request.ip, action: PASSWORD_CHANGED, query: { username } };
        // The session making the change stays; every other session of the account ends.
        const keepSession = own && principal.via === 'session' ? sessionCookieOf(request) : undefined;
        const changed = await deps.accounts.setPassword(username, await hashPassword(password), { ...(keepSession !== undefined && { keepSession }), also: logged(entry) });
        if (!changed) throw noSuchAccount(username);
        return reply.code(204).send();
      },
    );
  };

  /** Throws 403 (a wrong current password, counted like a failed login) or 429. */
  async function checkCurrentPassword(ip: string, username: string, password: string, hash: string): Promise<void> {
    const keys = [`ip:${addressThrottleKey(ip)}`, `account:${username}`];
    const wait = throttle.begin(keys);
    if (wait > 0) throw tooManyAttempts(wait, 'wrong passwords');
    let failed = false;
    try {
      failed = !(await verifyPassword(password, hash));
    } finally {
      for (const key of keys) throttle.end(key, failed);
    }
    if (failed) {
      throw new ApiProblem(403, 'currentPassword is wrong.', { type: ProblemType.invalidCredentials, title: 'Invalid credentials' });
    }
  }
}
