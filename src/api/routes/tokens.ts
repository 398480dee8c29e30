// API tokens: POST/GET /api/v1/tokens, DELETE /api/v1/tokens/:id. An administrator manages every
// account's tokens; anyone else only their own (someone else's token id answers 404, so ids of
// other accounts' tokens are not confirmed). The token is in the 201 answer and nowhere else.
// Every account token expires (TOKEN_LIFETIME_DAYS when the caller names no time, at most
// TOKEN_MAX_LIFETIME_DAYS ahead): a stolen console session must not become a permanent token.
// Only bootstrap tokens (ADMIN_TOKEN, CLI) never expire. Each token records who created it, as
// does its token.create access-log entry, so a token an admin minted for an officer is known.
import type { FastifyPluginAsync } from 'fastify';
import type { ConsoleAccountStore } from '../../accounts/account-store.ts';
import type { TransactionalAccessLog } from '../../audit/access-log.types.ts';
import type { Logger } from '../../log.ts';
import { recordInOrRefuse } from '../access-log-unavailable.ts';
import { isTokenId, type ApiTokenInfo, type ApiTokenStore } from '../../storage/api-token-store.ts';
import { forbidden } from '../auth.ts';
import { badRequest, notFound, problemSchema } from '../errors.ts';
import { cursorSchema, decodePageCursor, limitSchema, page, pageSchema } from '../pagination.ts';
import { principalOf, type Principal } from '../principal.ts';
import { instantParam } from '../search-filters.ts';

export interface TokensRoutesDeps {
  readonly tokens: ApiTokenStore;
  readonly accounts: ConsoleAccountStore;
  /** Creations and revocations are recorded in their own transaction. */
  readonly accessLog: TransactionalAccessLog;
  readonly log?: Logger;
  /** Lifetime of a token created without expiresAt (TOKEN_LIFETIME_DAYS). Default 90 days. */
  readonly defaultLifetimeMs?: number;
  /** Farthest expiresAt accepted (TOKEN_MAX_LIFETIME_DAYS). Default 365 days. */
  readonly maxLifetimeMs?: number;
  readonly now?: () => number;
}

const DAY_MS = 24 * 3600_000;
export const DEFAULT_TOKEN_LIFETIME_MS = 90 * DAY_MS;
export const DEFAULT_TOKEN_MAX_LIFETIME_MS = 365 * DAY_MS;

const nullableDate = { type: ['string', 'null'], format: 'date-time' } as const;
export const tokenSchema = {
  type: 'object',
  required: ['id', 'account', 'label', 'createdAt', 'createdBy', 'expiresAt', 'lastUsedAt'],
  properties: {
    id: { type: 'string' },
    account: { type: ['string', 'null'] },
    label: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    createdBy: { type: ['string', 'null'] },
    expiresAt: nullableDate,
    lastUsedAt: nullableDate,
  },
} as const;

const toJson = (t: ApiTokenInfo) => ({
  id: t.id,
  account: t.account ?? null,
  label: t.label,
  createdAt: t.createdAt.toISOString(),
  createdBy: t.createdBy ?? null,
  expiresAt: t.expiresAt?.toISOString() ?? null,
  lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
});

const canManage = (p: Principal, account: string | undefined) => p.role === 'admin' || (account !== undefined && p.account === account);

export function tokensRoutes(deps: TokensRoutesDeps): FastifyPluginAsync {
  const now = deps.now ?? Date.now;
  const maxLifetimeMs = deps.maxLifetimeMs ?? DEFAULT_TOKEN_MAX_LIFETIME_MS;
  const defaultLifetimeMs = Math.min(deps.defaultLifetimeMs ?? DEFAULT_TOKEN_LIFETIME_MS, maxLifetimeMs);
  const maxDays = Math.floor(maxLifetimeMs / DAY_MS);
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
        const t = now();
        const expiresAt = instantParam('expiresAt', request.body.expiresAt) ?? new Date(t + defaultLifetimeMs);
        if (expiresAt.getTime() <= t) throw badRequest('expiresAt: must be in the future.');
        if (expiresAt.getTime() > t + maxLifetimeMs) throw badRequest(`expiresAt: at most ${maxDays} days ahead (TOKEN_MAX_LIFETIME_DAYS).`);
        if ((await deps.accounts.get(account)) === undefined) throw notFound(`There is no console account ${account}.`, 'urn:warden:problem:user-not-found', 'No such account');
        const createdBy = principal.actor;
        // The entry's actor is the creator; account names whose token it is (another's when an admin
        // mints it). Token and entry commit together: no token off the record (503 instead).
        const { token, info } = await deps.tokens.create({ account, label: label ?? `created by ${createdBy}`, createdBy, expiresAt }, (tx, made) =>
          recordInOrRefuse(
            deps.accessLog,
            tx,
            { principal, ip: request.ip, action: 'token.create', query: { account, tokenId: made.id, createdBy, expiresAt: made.expiresAt?.toISOString() ?? null } },
            deps.log,
          ),
        );
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
        const revoked = await deps.tokens.revoke(id, principal.actor, (tx) =>
          recordInOrRefuse(deps.accessLog, tx, { principal, ip: request.ip, action: 'token.revoke', query: { tokenId: id, account: info.account ?? null } }, deps.log),
        );
        if (!revoked) throw noSuchToken(id);
        return reply.code(204).send();
      },
    );
  };
}
