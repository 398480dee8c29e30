// Chat accounts: /api/v1/users. Usernames arrive raw and are stored normalised (RFC 7622 §3.3,
// UsernameCaseMapped: "Alice" → "alice"); passwords only ever become SCRAM credentials here and
// are neither stored nor logged.
import type { FastifyPluginAsync } from 'fastify';
import type { ScramCredential } from '../../auth/scram-credential.ts';
import { SaslPrepError } from '../../auth/scram.ts';
import type { Logger } from '../../log.ts';
import type { ApiDeps } from '../deps.types.ts';
import { badRequest, conflict, notFound, problemSchema, ProblemType } from '../errors.ts';
import { limitSchema } from '../pagination.ts';

/** Longest password accepted, in characters (a bound on SCRAM derivation work per request). */
export const MAX_PASSWORD_CHARS = 1024;
/** RFC 7622 §3.3.1: a localpart is at most 1023 octets; a raw name longer in characters cannot be one. */
const MAX_USERNAME_CHARS = 1023;

const passwordSchema = { type: 'string', minLength: 1, maxLength: MAX_PASSWORD_CHARS } as const;
const usernameSchema = { type: 'string', minLength: 1, maxLength: MAX_USERNAME_CHARS } as const;
const usernameParams = {
  type: 'object',
  required: ['username'],
  properties: { username: usernameSchema },
} as const;
const userSchema = {
  type: 'object',
  required: ['username', 'jid'],
  properties: { username: { type: 'string' }, jid: { type: 'string' } },
} as const;

interface UsernameParams {
  username: string;
}
interface CreateUserBody {
  username: string;
  password: string;
}
interface PasswordBody {
  password: string;
}
interface ListQuery {
  limit: number;
  cursor?: string;
  after?: string;
}

export interface UsersPluginOptions {
  readonly deps: ApiDeps;
  readonly log: Logger;
}

export const usersRoutes: FastifyPluginAsync<UsersPluginOptions> = async (app, { deps, log }) => {
  const jidOf = (username: string) => `${username}@${deps.domain}`;

  const normalise = (raw: string): string => {
    const username = deps.normalizeLocalpart(raw);
    if (username === undefined) {
      throw badRequest(
        `${JSON.stringify(raw)} is not a valid username (an XMPP localpart, RFC 7622: no spaces, no @ / : ' " < > &).`,
        ProblemType.invalidUsername,
        'Invalid username',
      );
    }
    return username;
  };

  // RFC 4013 SASLprep refuses some passwords (control characters, unassigned code points); a
  // credential derived anyway could never be used to log in.
  const derive = (password: string): ScramCredential[] => {
    try {
      return deps.deriveCredentials(password);
    } catch (err) {
      if (err instanceof SaslPrepError) {
        throw badRequest(`The password cannot be used (${err.message}).`, ProblemType.invalidPassword, 'Invalid password');
      }
      throw err;
    }
  };

  const noSuchUser = (username: string) => notFound(`There is no user ${JSON.stringify(username)}.`, ProblemType.userNotFound, 'No such user');

  app.post<{ Body: CreateUserBody }>(
    '/',
    {
      config: { roles: ['admin'] },
      schema: {
        body: {
          type: 'object',
          required: ['username', 'password'],
          additionalProperties: false,
          properties: { username: usernameSchema, password: passwordSchema },
        },
        response: { 201: userSchema, 400: problemSchema, 409: problemSchema },
      },
    },
    async (request, reply) => {
      const username = normalise(request.body.username);
      const credentials = derive(request.body.password);
      if (!(await deps.users.create(username, credentials))) {
        throw conflict(`User ${JSON.stringify(username)} already exists.`, ProblemType.userExists, 'User exists');
      }
      log.info('admin API: user created', { username });
      return reply.code(201).send({ username, jid: jidOf(username) });
    },
  );

  app.get<{ Querystring: ListQuery }>(
    '/',
    {
      config: { roles: ['admin'] },
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            // 1..500, default 50, as every list of this API.
            limit: limitSchema,
            // `cursor` is the name every list of this API uses; `after` is its older spelling.
            cursor: { type: 'string', maxLength: MAX_USERNAME_CHARS },
            after: { type: 'string', maxLength: MAX_USERNAME_CHARS },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['items', 'next'],
            properties: {
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['username', 'jid', 'createdAt'],
                  properties: {
                    username: { type: 'string' },
                    jid: { type: 'string' },
                    createdAt: { type: 'string', format: 'date-time' },
                  },
                },
              },
              // The username to pass as `cursor` (or `after`) for the next page; null on the last page.
              next: { type: ['string', 'null'] },
            },
          },
          400: problemSchema,
        },
      },
    },
    async (request) => {
      const { limit } = request.query;
      const after = request.query.cursor ?? request.query.after;
      // One row more than asked tells whether another page exists without a COUNT.
      const rows = await deps.users.list(after === undefined ? { limit: limit + 1 } : { limit: limit + 1, after });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      let more = rows.length > limit;
      if (!more && last !== undefined && page.length === limit) {
        // The store may cap a page below limit + 1, so a full page may hide the extra row: ask.
        more = (await deps.users.list({ limit: 1, after: last.username })).length > 0;
      }
      return {
        items: page.map((u) => ({ username: u.username, jid: jidOf(u.username), createdAt: u.createdAt })),
        next: more && last !== undefined ? last.username : null,
      };
    },
  );

  app.delete<{ Params: UsernameParams }>(
    '/:username',
    {
      config: { roles: ['admin'] },
      schema: { params: usernameParams, response: { 204: { description: 'The user was deleted and their sessions ended.', type: 'null' }, 400: problemSchema, 404: problemSchema } },
    },
    async (request, reply) => {
      const username = normalise(request.params.username);
      if (!(await deps.users.delete(username))) throw noSuchUser(username);
      const ended = deps.sessions.kickUser(username, 'Account deleted');
      log.info('admin API: user deleted', { username, sessionsEnded: ended });
      return reply.code(204).send();
    },
  );

  app.put<{ Params: UsernameParams; Body: PasswordBody }>(
    '/:username/password',
    {
      config: { roles: ['admin'] },
      schema: {
        params: usernameParams,
        body: { type: 'object', required: ['password'], additionalProperties: false, properties: { password: passwordSchema } },
        response: { 204: { description: "The password was replaced and the user's sessions ended.", type: 'null' }, 400: problemSchema, 404: problemSchema },
      },
    },
    async (request, reply) => {
      const username = normalise(request.params.username);
      const credentials = derive(request.body.password);
      if (!(await deps.users.setCredentials(username, credentials))) throw noSuchUser(username);
      // Sessions authenticated with the old password must not outlive it.
      const ended = deps.sessions.kickUser(username, 'Password changed');
      log.info('admin API: password changed', { username, sessionsEnded: ended });
      return reply.code(204).send();
    },
  );
};
