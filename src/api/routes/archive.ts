// Tamper evidence of the compliance archive: GET /api/v1/archive/verify[?chain=…] walks every hash
// chain (audit/archive-verify.ts) and answers 200 either way; `ok` is false when a chain is
// broken, and each broken chain names its first broken row; 404 for a chain with no rows. Rows
// deleted by retention count as `tombstoned`, not as breaks. It reads the whole archive (or
// chain): on a large archive it takes a while, so clients should allow a long timeout.
import type { FastifyPluginAsync } from 'fastify';
import type { Sql } from 'postgres';
import { verifyArchive } from '../../audit/archive-verify.ts';
import { notFound, problemSchema } from '../errors.ts';

export interface ArchiveRoutesDeps {
  readonly sql: Sql;
}

const chainReportSchema = {
  type: 'object',
  required: ['chain', 'rows', 'tombstoned', 'ok'],
  properties: {
    chain: { type: 'string' },
    // Rows present, and rows retention deleted (linked through their tombstones).
    rows: { type: 'integer' },
    tombstoned: { type: 'integer' },
    ok: { type: 'boolean' },
    firstBroken: {
      type: 'object',
      required: ['id', 'chainSeq', 'stanzaId', 'ts', 'reason'],
      properties: {
        // archive.id, or 'tombstone' (with tombstone: true) when the break is at a tombstone.
        id: { type: 'string' },
        tombstone: { type: 'boolean' },
        chainSeq: { type: 'integer' },
        stanzaId: { type: 'string' },
        ts: { type: 'string', format: 'date-time' },
        reason: { type: 'string' },
      },
    },
  },
} as const;

export const verifyReportSchema = {
  type: 'object',
  required: ['ok', 'chains'],
  properties: { ok: { type: 'boolean' }, chains: { type: 'array', items: chainReportSchema } },
} as const;

export function archiveRoutes(deps: ArchiveRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: { chain?: string } }>(
      '/verify',
      {
        config: { roles: ['auditor', 'admin'] },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { chain: { type: 'string', minLength: 1, maxLength: 1023 } },
          },
          response: { 200: verifyReportSchema, 400: problemSchema, 404: problemSchema },
        },
      },
      async (request) => {
        const { chain } = request.query;
        const report = await verifyArchive(deps.sql, chain === undefined ? {} : { chain });
        // A mistyped chain name must not read as "0 rows, intact".
        if (chain !== undefined && report.chains.every((c) => c.rows + c.tombstoned === 0)) {
          throw notFound(`The archive has no chain ${JSON.stringify(chain)}.`, 'urn:warden:problem:chain-not-found', 'No such chain');
        }
        return report;
      },
    );
  };
}
