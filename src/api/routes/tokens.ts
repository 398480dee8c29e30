// API tokens: POST/GET /api/v1/tokens, DELETE /api/v1/tokens/:id. An administrator manages every
// account's tokens; anyone else only their own (someone else's token id answers 404, so ids of
// other accounts' tokens are not confirmed). The token is in the 201 answer and nowhere else.
import type { FastifyPluginAsync } from 'fastify';
import type { ConsoleAccountStore } from '../../accounts/account-store.ts';
import type { AccessLog } from '../../audit/access-log.types.ts';
import { isTokenId, type ApiTokenInfo, type ApiTokenStore } from '../../storage/api-token-store.ts';
import { forbidden } from '../auth.ts';
import { badRequest, notFound, problemSchema } from '../errors.ts';
import { cursorSchema, decodePageCursor, limitSchema, page, pageSchema } from '../pagination.ts';
import { principalOf, type Principal } from '../principal.ts';

export interface TokensRoutesDeps {
  readonly tokens: ApiTokenStore;
  readonly accounts: ConsoleAccountStore;
  readonly accessLog: AccessLog;
  readonly now?: () => number;
}

const nullableDate = { type: ['string', 'null'], format: 'date-time' } as const;
export const tokenSchema = {
  type: 'object',
  required: ['id', 'account', 'label', 'createdAt', 'expiresAt', 'lastUsedAt'],
  properties: {
    id: { type: 'string' },
    account: { type: ['string', 'null'] },
    label: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    expiresAt: nullableDate,
    lastUsedAt: nullableDate,
  },
} as const;

const toJson = (t: ApiTokenInfo) => ({
  id: t.id,
  account: t.account ?? null,
  label: t.label,
  createdAt: t.createdAt.toISOString(),
  expiresAt: t.expiresAt?.toISOString() ?? null,
  lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
});

const canManage = (p: Principal, account: string | undefined) => p.role === 'admin' || (account !== undefined && p.account === account);
/** Tokens are for scripts; one that never expires is allowed, but not one past ~10 years. */
const MAX_LIFETIME_MS = 3650 * 24 * 3600 * 1000;

export function tokensRoutes(deps: TokensRoutesDeps): FastifyPluginAsync {
  const now = deps.now ?? Date.now;
  const noSuchToken = (id: string) => notFound(`There is no token ${id}.`, 'urn:warden:problem:token-not-found', 'No such token');
  return async (app) => {
    app.post<{ Body: { account: string; expiresAt?: string; label?: string } }>(
      '/',
      {
        config: { roles: 'any' },
        schema: {
          body: {
            type: 'object',
            required: ['account'],
            additionalProperties: false,
            properties: { account: { type: 'string', minLength: 1, maxLength: 64 }, expiresAt: { type: 'string', format: 'date-time' }, label: { type: 'string', minLength: 1, maxLength: 200 } },
          },
          response: {
            201: { type: 'object', required: [...tokenSchema.required, 'token'], properties: { ...tokenSchema.properties, token: { type: 'string' } } },
            400: problemSchema,
            403: problemSchema,
            404: problemSchema,
          },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const { account, label } = request.body;
        if (!canManage(principal, account)) throw forbidden(`${principal.actor} may only create tokens for their own account.`);
        let expiresAt: Date | undefined;
        if (request.body.expiresAt !== undefined) {
          expiresAt = new Date(request.body.expiresAt);
          if (expiresAt.getTime() <= now()) throw badRequest('expiresAt: must be in the future.');
          if (expiresAt.getTime() > now() + MAX_LIFETIME_MS) throw badRequest('expiresAt: at most ten years ahead.');
        }
        if ((await deps.accounts.get(account)) === undefined) throw notFound(`There is no console account ${account}.`, 'urn:warden:problem:user-not-found', 'No such account');
        const { token, info } = await deps.tokens.create({ account, label: label ?? `created by ${principal.actor}`, ...(expiresAt && { expiresAt }) });
        await deps.accessLog.record({ principal, ip: request.ip, action: 'token.create', query: { account, tokenId: info.id, expiresAt: info.expiresAt?.toISOString() ?? null } });
        return reply.code(201).header('Cache-Control', 'no-store').send({ ...toJson(info), token });
      },
    );

    app.get<{ Querystring: { account?: string; limit: number; cursor?: string } }>(
      '/',
      {
        config: { roles: 'any' },
        schema: {
          querystring: { type: 'object', additionalProperties: false, properties: { account: { type: 'string', minLength: 1, maxLength: 64 }, limit: limitSchema, cursor: cursorSchema } },
          response: { 200: pageSchema(tokenSchema), 400: problemSchema, 403: problemSchema },
        },
      },
      async (request) => {
        const principal = principalOf(request);
        const { limit } = request.query;
        // Non-admins see their own tokens whatever they ask for; asking for another's is refused.
        const account = principal.role === 'admin' ? request.query.account : (request.query.account ?? principal.account);
        if (principal.role !== 'admin' && (account === undefined || account !== principal.account)) throw forbidden(`${principal.actor} may only list their own tokens.`);
        const after = decodePageCursor(request.query.cursor, isTokenId);
        const rows = await deps.tokens.list({ limit: limit + 1, ...(account !== undefined && { account }), ...(after !== undefined && { after }) });
        const result = page(rows, limit, (t) => t.id);
        return { items: result.items.map(toJson), next: result.next };
      },
    );

    app.delete<{ Params: { id: string } }>(
      '/:id',
      {
        config: { roles: 'any' },
        schema: { params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 40 } } }, response: { 204: { type: 'null' }, 404: problemSchema } },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const { id } = request.params;
        const info = await deps.tokens.get(id);
        if (info === undefined || !canManage(principal, info.account)) throw noSuchToken(id);
        if (!(await deps.tokens.revoke(id))) throw noSuchToken(id);
        await deps.accessLog.record({ principal, ip: request.ip, action: 'token.revoke', query: { tokenId: id, account: info.account ?? null } });
        return reply.code(204).send();
      },
    );
  };
}
