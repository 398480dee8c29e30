// POST /api/v1/audit/scan — a dry run against the live policy. It calls the same decision
// function as the pipeline, so it gives exactly the verdict a message would get.
import type { FastifyPluginAsync } from 'fastify';
import { decide, type DecisionOptions } from '../../audit/decide.ts';
import type { LivePolicy } from '../../audit/policy-manager.ts';
import { bareString, isJidError, parseJid } from '../../stanza/jid.ts';
import { LARGE_BODY_LIMIT } from '../body-limit.ts';
import { badRequest, problemSchema } from '../errors.ts';
import { matchSchema } from '../schemas.ts';

export interface AuditScanDeps {
  readonly domain: string;
  readonly policy: LivePolicy;
  readonly decisions: DecisionOptions;
}

export function auditScanRoutes(deps: AuditScanDeps): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: { text: string; from?: string; to?: string; type?: string } }>(
      '/scan',
      {
        config: { roles: ['officer', 'admin'] },
        // A text of up to 262 144 characters, as JSON: more than the API's 64 KiB default.
        bodyLimit: LARGE_BODY_LIMIT,
        schema: {
          body: {
            type: 'object',
            required: ['text'],
            additionalProperties: false,
            properties: {
              text: { type: 'string', maxLength: 262_144 },
              from: { type: 'string', maxLength: 3071 },
              to: { type: 'string', maxLength: 3071 },
              type: { type: 'string', enum: ['chat', 'normal', 'headline', 'groupchat'] },
            },
          },
          response: {
            200: {
              type: 'object',
              required: ['verdict', 'matches', 'policyVersion'],
              properties: {
                verdict: { type: 'string', enum: ['allow', 'flag', 'redact', 'block', 'hold'] },
                matches: { type: 'array', items: matchSchema },
                redacted: { type: 'string' },
                reason: { type: ['string', 'null'] },
                policyVersion: { type: 'integer' },
              },
            },
            400: problemSchema,
            413: problemSchema,
          },
        },
      },
      async (request) => {
        const jid = (raw: string | undefined, field: string, fallback: string) => {
          if (raw === undefined) return fallback;
          const parsed = parseJid(raw);
          if (isJidError(parsed)) throw badRequest(`${field}: ${parsed.reason}`);
          return bareString(parsed);
        };
        const from = jid(request.body.from, 'from', `dry-run@${deps.domain}`);
        const to = jid(request.body.to, 'to', `dry-run@${deps.domain}`);
        const local = (bare: string) => bare.endsWith(`@${deps.domain}`) || bare === deps.domain;
        const direction = local(from) ? (local(to) ? 'internal' : 'outbound') : 'inbound';
        const decision = decide(
          deps.policy,
          { text: request.body.text, encryption: undefined, from, to, direction, type: request.body.type ?? 'chat' },
          deps.decisions,
        );
        return { ...decision, matches: decision.matches };
      },
    );
  };
}
