// Tamper evidence of the compliance archive: GET /api/v1/archive/verify[?chain=…] walks every hash
// chain (audit/archive-verify.ts) and answers 200 either way; `ok` is false when a chain is
// broken, and each broken chain names its first broken row; 404 for a chain with no rows. Rows
// deleted by retention count as `tombstoned`, not as breaks. It reads the whole archive (or
// chain): on a large archive it takes a while, so clients should allow a long timeout.
// Each verification answered is an access-log entry (archive.verify, with its outcome), and is
// not answered (503) when that entry cannot be written.
import type { FastifyPluginAsync } from 'fastify';
import type { Sql } from 'postgres';
import { createAccessLogStore } from '../../audit/access-log.ts';
import type { AccessLog } from '../../audit/access-log.types.ts';
import { verifyArchive } from '../../audit/archive-verify.ts';
import type { Logger } from '../../log.ts';
import { recordOrRefuse } from '../access-log-unavailable.ts';
import { badRequest, notFound, problemSchema } from '../errors.ts';
import { principalOf } from '../principal.ts';

export interface ArchiveRoutesDeps {
  readonly sql: Sql;
  /** Where verifications are recorded; defaults to the access log over `sql`. */
  readonly accessLog?: AccessLog;
  readonly log?: Logger;
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
    // The newest element: note it outside Warden, pass it back as expectSeq/expectHash later.
    head: { type: 'object', required: ['seq', 'hash'], properties: { seq: { type: 'integer' }, hash: { type: 'string' } } },
    // The noted head's check, when one was given.
    noted: { type: 'object', required: ['seq', 'ok'], properties: { seq: { type: 'integer' }, ok: { type: 'boolean' }, reason: { type: 'string' } } },
  },
} as const;

/** What retention's own records say (retention_batches against the tombstones and the access log). */
const retentionReportSchema = {
  type: 'object',
  required: ['batches', 'runs', 'pendingRuns', 'problems'],
  properties: {
    batches: { type: 'integer' },
    runs: { type: 'integer' },
    // Runs too recent to be in the access log yet (a run records itself when it ends).
    pendingRuns: { type: 'array', items: { type: 'string' } },
    problems: {
      type: 'array',
      items: { type: 'object', required: ['batchId', 'reason'], properties: { batchId: { type: 'string' }, reason: { type: 'string' } } },
    },
  },
} as const;

export const verifyReportSchema = {
  type: 'object',
  required: ['ok', 'chains', 'retention'],
  properties: { ok: { type: 'boolean' }, chains: { type: 'array', items: chainReportSchema }, retention: retentionReportSchema },
} as const;

export function archiveRoutes(deps: ArchiveRoutesDeps): FastifyPluginAsync {
  const accessLog = deps.accessLog ?? createAccessLogStore(deps.sql);
  return async (app) => {
    app.get<{ Querystring: { chain?: string; expectSeq?: number; expectHash?: string } }>(
      '/verify',
      {
        config: { roles: ['auditor', 'admin'] },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              chain: { type: 'string', minLength: 1, maxLength: 1023 },
              // A head of `chain` noted earlier (both, and the chain, or none).
              expectSeq: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
              expectHash: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' },
            },
          },
          response: { 200: verifyReportSchema, 400: problemSchema, 404: problemSchema, 503: problemSchema },
        },
      },
      async (request) => {
        const { chain, expectSeq, expectHash } = request.query;
        if ((expectSeq === undefined) !== (expectHash === undefined)) throw badRequest('expectSeq and expectHash: give both (a noted head) or neither.');
        if (expectSeq !== undefined && chain === undefined) throw badRequest('chain: a noted head belongs to one chain; name it.');
        const expectHead = expectSeq !== undefined && expectHash !== undefined ? { seq: expectSeq, hash: Buffer.from(expectHash, 'hex') } : undefined;
        const report = await verifyArchive(deps.sql, { ...(chain !== undefined && { chain }), ...(expectHead !== undefined && { expectHead }) });
        // A mistyped chain name must not read as "0 rows, intact".
        if (chain !== undefined && report.chains.every((c) => c.rows + c.tombstoned === 0)) {
          throw notFound(`The archive has no chain ${JSON.stringify(chain)}.`, 'urn:warden:problem:chain-not-found', 'No such chain');
        }
        const broken = report.chains.filter((c) => !c.ok).map((c) => c.chain);
        await recordOrRefuse(
          accessLog,
          {
            principal: principalOf(request),
            ip: request.ip,
            action: 'archive.verify',
            query: { ...request.query },
            detail: {
              ok: report.ok,
              chains: report.chains.length,
              ...(broken.length > 0 && { broken }),
              ...(report.retention.problems.length > 0 && { retentionProblems: report.retention.problems.length }),
              ...(expectHead !== undefined && { notedHeadOk: report.chains[0]?.noted?.ok ?? false }),
            },
          },
          deps.log,
        );
        return report;
      },
    );
  };
}
