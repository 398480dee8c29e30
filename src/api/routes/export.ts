// eDiscovery export (officer):
//   GET /api/v1/export?q=&user=&peer=&since=&until=&verdict=&format=jsonl|csv|eml   the file, streamed
//   GET /api/v1/exports?limit=&cursor=                                             manifests, newest first
//   GET /api/v1/exports/:id                                                        one manifest
// The filters are the archive search's (api/search-filters.ts); the walk, the formats and the
// manifest are in audit/archive-export.ts. The file is streamed with chunked transfer coding and
// ends with HTTP trailers (RFC 9110 §6.5, RFC 9112 §7.1.2) carrying the count and SHA-256, which
// are only known once the last row is out; the same values go into the manifest.
//
// The manifest says complete only once the whole response — every chunk and the trailers — has
// been handed to the network ('finish'); a connection that closes before that marks the export
// failed with the bytes that went out (sampled from the response's buffer as it is written: what
// was given to the response less what it still holds). At most LiveExports.maxConcurrent exports
// stream at once on a server; one more is answered 429 with Retry-After.
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import type { Sql } from 'postgres';
import type { AccessLog } from '../../audit/access-log.types.ts';
import { EXPORT_FORMATS, ExportNotRecordedError, LiveExports, getExport, listExports, startExport, type ExportFormat, type ExportRun } from '../../audit/archive-export.ts';
import type { Logger } from '../../log.ts';
import { accessLogUnavailable } from '../access-log-unavailable.ts';
import { ApiProblem, notFound, problemSchema } from '../errors.ts';
import { bigintIdSchema, decodePageCursor, idCursorSchema, isBigintId, limitSchema, nextPageCursor, pageSchema } from '../pagination.ts';
import { principalOf } from '../principal.ts';
import { parseSearchFilters, searchFilterProperties, type SearchFilterQuerystring } from '../search-filters.ts';

export interface ExportRoutesDeps {
  readonly sql: Sql;
  /** This server's domain: a bare localpart in `user`/`peer` is a user of it; the mbox's Message-ID domain. */
  readonly domain: string;
  readonly accessLog: AccessLog;
  readonly log?: Logger;
  /** This server's exports in progress (limit, shutdown); default: a fresh LiveExports. */
  readonly live?: LiveExports;
  /** This node's id, written into each manifest (start-up cleanup settles only its own). */
  readonly node?: string;
  /** The largest body the archive can hold (MAX_STANZA_BYTES): bounds a batch's memory. */
  readonly maxMessageBytes?: number;
}

export const TOO_MANY_EXPORTS = 'urn:warden:problem:too-many-exports';
/** Seconds a client is told to wait when every export slot is taken. */
export const EXPORT_RETRY_AFTER_S = 30;

/**
 * Follows the response carrying `run.stream` and ends the run from what the network got: complete
 * once the response finished (every byte and the trailers handed to the socket), else failed with
 * the bytes handed over before the connection closed. `stopping` tells a shutdown from a client
 * that went away.
 */
export function deliverExport(run: ExportRun, res: ServerResponse, stopping: () => boolean): void {
  let given = 0;
  let sent = 0;
  const sample = (): void => {
    // What the response holds (its own and its socket's buffers, framing included) has not gone out.
    const held = res.destroyed ? given - sent : res.writableLength;
    if (given - held > sent) {
      sent = given - held;
      run.sent(sent);
    }
  };
  // 'pipe' is emitted after fastify's pipe has attached its own 'data' listener and before the
  // stream flows: this listener then runs after each chunk's res.write, so writableLength counts it.
  res.once('pipe', () => {
    run.stream.on('data', (chunk: Buffer) => {
      given += chunk.length;
      sample();
    });
  });
  res.on('drain', sample);
  // 'finish': the last chunk and the trailers have been handed to the operating system.
  let finished = false;
  res.once('finish', () => {
    finished = true;
  });
  const closed = (): void => {
    if (finished || res.writableFinished) void run.finish({ delivered: true });
    else void run.finish({ delivered: false, bytes: sent, maxBytes: given, failure: stopping() ? 'shutdown' : 'disconnected' });
  };
  // The client may have gone while the export was being started: 'close' was then emitted already.
  if (res.closed || res.destroyed) closed();
  else res.once('close', closed);
}

interface ExportQuerystring extends SearchFilterQuerystring {
  format: ExportFormat;
}

export const EXPORT_TRAILERS = { count: 'X-Export-Count', sha256: 'X-Export-SHA256' } as const;

/** GET /api/v1/export: mount at '/v1/export'. */
export function exportRoutes(deps: ExportRoutesDeps): FastifyPluginAsync {
  const live = deps.live ?? new LiveExports();
  return async (app) => {
    app.get<{ Querystring: ExportQuerystring }>(
      '/',
      {
        config: { roles: ['officer'] },
        // fastify would answer HEAD by running the handler and draining the stream: a whole
        // export, logged, for nothing.
        exposeHeadRoute: false,
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              ...searchFilterProperties,
              format: { type: 'string', enum: EXPORT_FORMATS, default: 'jsonl' },
            },
          },
          description:
            'The archived messages meeting the search filters, oldest first by (ts, id), as one file: JSON Lines, CSV ' +
            '(RFC 4180) or an mboxrd mailbox of RFC 5322 messages (`format=eml`). Without `until`, the export ends at the ' +
            'moment it starts. Header X-Export-Id names the manifest (GET /api/v1/exports/{id}); trailers X-Export-Count ' +
            'and X-Export-SHA256 give the count and the SHA-256 of the file. The manifest says complete once the whole ' +
            'response has been sent; 429 (Retry-After) while the server runs its maximum of concurrent exports.',
          response: {
            // The file itself, streamed; fastify does not serialise a stream, so this only documents it.
            200: {
              description: 'The export file.',
              content: {
                'application/x-ndjson': { schema: { type: 'string' } },
                'text/csv': { schema: { type: 'string' } },
                'application/mbox': { schema: { type: 'string' } },
              },
            },
            400: problemSchema,
            429: problemSchema,
            503: problemSchema,
          },
        },
      },
      async (request, reply) => {
        const { format } = request.query;
        const filters = parseSearchFilters(request.query, deps.domain);
        if (!live.tryReserve()) {
          throw new ApiProblem(429, `${live.maxConcurrent} exports are already running on this server; try again in ${EXPORT_RETRY_AFTER_S} s.`, {
            type: TOO_MANY_EXPORTS,
            title: 'Too many exports',
            headers: { 'Retry-After': String(EXPORT_RETRY_AFTER_S) },
          });
        }
        let run: ExportRun;
        try {
          run = await startExport({
            sql: deps.sql,
            accessLog: deps.accessLog,
            principal: principalOf(request),
            ip: request.ip,
            filters,
            format,
            domain: deps.domain,
            ...(deps.node !== undefined && { node: deps.node }),
            ...(deps.maxMessageBytes !== undefined && { maxMessageBytes: deps.maxMessageBytes }),
            ...(deps.log !== undefined && { log: deps.log }),
          });
        } catch (err) {
          live.release();
          if (!(err instanceof ExportNotRecordedError)) throw err;
          // Not on the record, so not sent: the 503 every unloggable read gets, not a 500.
          deps.log?.error('access log: could not record; export refused', { exportId: err.exportId, actor: principalOf(request).actor, error: String(err.cause) });
          const problem = accessLogUnavailable();
          problem.cause = err;
          throw problem;
        }
        live.track(run);
        deliverExport(run, reply.raw, () => live.stopping);
        void run.done.then((status) => {
          if (status === 'failed') request.log.warn({ exportId: run.id }, 'export did not complete');
        });
        return reply
          .header('X-Export-Id', run.id)
          .header('Content-Disposition', `attachment; filename="warden-export-${run.id}.${run.formatter.extension}"`)
          // Message content: no shared cache keeps a copy.
          .header('Cache-Control', 'no-store')
          .header('X-Content-Type-Options', 'nosniff')
          .type(run.formatter.contentType)
          // fastify declares them in the Trailer header and switches to chunked transfer coding.
          .trailer(EXPORT_TRAILERS.count, async () => String(run.result()?.count ?? ''))
          .trailer(EXPORT_TRAILERS.sha256, async () => run.result()?.sha256 ?? '')
          .send(run.stream);
      },
    );
  };
}

const manifestSchema = {
  type: 'object',
  required: ['id', 'account', 'format', 'query', 'status', 'count', 'sha256', 'bytes', 'failure', 'createdAt', 'finishedAt'],
  properties: {
    id: { type: 'string' },
    account: { type: 'string' },
    format: { type: 'string', enum: EXPORT_FORMATS },
    // The filters the file holds; `until` is the moment the export started when none was given.
    query: { type: 'object', additionalProperties: true },
    status: { type: 'string', enum: ['running', 'complete', 'failed'] },
    // complete: the file's messages, bytes and SHA-256 (hex) — the file as produced; compare your
    // download's own digest with it. failed: the messages wholly sent and the bytes handed to the
    // network before the failure (null when unknown: 'interrupted'), no SHA-256.
    count: { type: ['integer', 'null'] },
    sha256: { type: ['string', 'null'] },
    bytes: { type: ['integer', 'null'] },
    failure: { type: ['string', 'null'], enum: ['disconnected', 'error', 'shutdown', 'interrupted', null] },
    createdAt: { type: 'string', format: 'date-time' },
    finishedAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

/** GET /api/v1/exports and /api/v1/exports/:id: mount at '/v1/exports'. */
export function exportManifestRoutes(deps: Pick<ExportRoutesDeps, 'sql'>): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: { limit: number; cursor?: string } }>(
      '/',
      {
        config: { roles: ['officer'] },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { limit: limitSchema, cursor: idCursorSchema },
          },
          response: { 200: pageSchema(manifestSchema), 400: problemSchema },
        },
      },
      async (request) => {
        const { limit, cursor } = request.query;
        // An id within bigint's range, so a forged cursor is a 400, not a database error.
        const beforeId = decodePageCursor(cursor, isBigintId);
        const page = await listExports(deps.sql, { limit, ...(beforeId !== undefined && { beforeId }) });
        return { items: page.items, next: nextPageCursor(page.items, page.more, (m) => m.id) };
      },
    );

    app.get<{ Params: { id: string } }>(
      '/:id',
      {
        config: { roles: ['officer'] },
        schema: {
          // A positive bigint of at most 18 digits: a longer number is a 400, not a database error.
          params: { type: 'object', required: ['id'], properties: { id: bigintIdSchema } },
          response: { 200: manifestSchema, 400: problemSchema, 404: problemSchema },
        },
      },
      async (request) => {
        const { id } = request.params;
        const manifest = await getExport(deps.sql, id);
        if (manifest === undefined) throw notFound(`There is no export ${id}.`);
        return manifest;
      },
    );
  };
}
