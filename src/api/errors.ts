// RFC 9457 problem details: the one shape every 4xx/5xx of the HTTP API takes. Handlers throw an
// ApiProblem; anything else thrown (fastify's validation and parser errors, bugs) is converted in
// one place, toProblem(), so no route can answer with an HTML page or a stack trace.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply } from 'fastify';
import { formatBytes } from './body-limit.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Problem types of this API. RFC 9457 §4.2.1: "about:blank" when the status code says it all. */
export const ProblemType = {
  blank: 'about:blank',
  invalidRequest: 'urn:warden:problem:invalid-request',
  invalidUsername: 'urn:warden:problem:invalid-username',
  invalidPassword: 'urn:warden:problem:invalid-password',
  userExists: 'urn:warden:problem:user-exists',
  userNotFound: 'urn:warden:problem:user-not-found',
  sessionNotFound: 'urn:warden:problem:session-not-found',
  unauthorized: 'urn:warden:problem:unauthorized',
  forbidden: 'urn:warden:problem:forbidden',
  csrf: 'urn:warden:problem:csrf',
  invalidCredentials: 'urn:warden:problem:invalid-credentials',
  tooManyAttempts: 'urn:warden:problem:too-many-attempts',
  invalidCursor: 'urn:warden:problem:invalid-cursor',
} as const;
export type ProblemType = (typeof ProblemType)[keyof typeof ProblemType];

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  /** RFC 9457 §3.2 extension member: every problem found, e.g. each invalid field of a rule. */
  readonly errors?: readonly string[];
}

/** JSON schema of a problem body, for the `response` section of route schemas. */
export const problemSchema = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    errors: { type: 'array', items: { type: 'string' } },
  },
} as const;

/** An error a handler (or hook) throws on purpose; its fields are safe to show the client. */
export class ApiProblem extends Error {
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly errors: readonly string[] | undefined;

  constructor(status: number, detail: string, opts: { type?: string; title?: string; headers?: Record<string, string>; errors?: readonly string[] } = {}) {
    super(detail);
    this.name = 'ApiProblem';
    this.status = status;
    this.type = opts.type ?? ProblemType.blank;
    this.title = opts.title ?? STATUS_CODES[status] ?? 'Error';
    this.headers = opts.headers ?? {};
    this.errors = opts.errors;
  }

  toJSON(): Problem {
    const problem = { type: this.type, title: this.title, status: this.status, detail: this.message };
    return this.errors ? { ...problem, errors: this.errors } : problem;
  }
}

export const badRequest = (detail: string, type: string = ProblemType.invalidRequest, title = 'Invalid request') =>
  new ApiProblem(400, detail, { type, title });
export const notFound = (detail: string, type: string = ProblemType.blank, title?: string) =>
  new ApiProblem(404, detail, title === undefined ? { type } : { type, title });
export const conflict = (detail: string, type: string, title: string) => new ApiProblem(409, detail, { type, title });

/** What the error handler knows of the request beyond the error: the route's body limit. */
export interface ProblemContext {
  readonly bodyLimit?: number;
}

/** fastify's own error codes whose message could echo request content; replaced by a fixed text. */
const FIXED_DETAIL: Readonly<Record<string, string | ((context: ProblemContext) => string)>> = {
  // JSON.parse messages quote the body — which may hold a password.
  FST_ERR_CTP_INVALID_JSON_BODY: 'The request body is not valid JSON.',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'Unsupported Content-Type; send application/json.',
  FST_ERR_BAD_URL: 'The URL is not validly percent-encoded.',
  // Routes differ (body-limit.ts): the client learns which limit it went over.
  FST_ERR_CTP_BODY_TOO_LARGE: ({ bodyLimit }) =>
    bodyLimit === undefined ? 'The request body is too large.' : `The request body is larger than this route accepts (${formatBytes(bodyLimit)}).`,
};

interface ErrorLike {
  readonly code?: unknown;
  readonly statusCode?: unknown;
  readonly validation?: unknown;
  readonly message?: unknown;
}

/**
 * Converts anything thrown while handling a request into a problem. `internal` is true for 5xx:
 * the caller logs the original error and the client only sees a generic text.
 */
export function toProblem(err: unknown, requestId?: string, context: ProblemContext = {}): { problem: ApiProblem; internal: boolean } {
  if (err instanceof ApiProblem) return { problem: err, internal: err.status >= 500 };
  const e: ErrorLike = typeof err === 'object' && err !== null ? (err as ErrorLike) : {};
  const status = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode <= 599 ? e.statusCode : 500;
  const database = typeof e.statusCode === 'number' ? undefined : databaseProblem(e.code);
  if (database !== undefined) return { problem: database, internal: database.status >= 500 };
  if (status >= 500) {
    const ref = requestId === undefined ? '' : ` (request ${requestId})`;
    return { problem: new ApiProblem(status, `The server could not complete the request; see its log${ref}.`), internal: true };
  }
  if (e.validation !== undefined) {
    // fastify's schema messages name the field and the rule ("body/password must NOT have fewer
    // than 1 characters"), never the value.
    return { problem: badRequest(validationDetail(e)), internal: false };
  }
  const code = typeof e.code === 'string' ? e.code : '';
  const fixed = FIXED_DETAIL[code];
  const detail =
    typeof fixed === 'function'
      ? fixed(context)
      : (fixed ?? (typeof e.message === 'string' && e.message.length > 0 ? e.message : (STATUS_CODES[status] ?? 'Error')));
  return { problem: new ApiProblem(status, detail), internal: false };
}

/** Seconds a client waits after a 503 for a database that is down or restarting. */
export const DATABASE_RETRY_AFTER_S = 5;

// postgres.js's own codes for a connection that is gone; SQLSTATE classes 08 (connection
// exception), 53 (insufficient resources), 57P01–57P03 (admin shutdown, crash shutdown, cannot
// connect now) are the server's. Each passes when the database is back: 503, not 500.
const DATABASE_UNAVAILABLE = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|CONNECT_TIMEOUT|CONNECTION_CLOSED|CONNECTION_ENDED|CONNECTION_DESTROYED|08...|53...|57P0[123])$/;

/**
 * Pure: the problem for a database error that is the client's or the moment's, not a bug:
 * SQLSTATE class 22 (data exception: a number out of range, an invalid value for its type)
 * is a 400; an unreachable database is a 503 with Retry-After. Anything else stays a 500.
 */
export function databaseProblem(code: unknown): ApiProblem | undefined {
  if (typeof code !== 'string') return undefined;
  if (/^22[0-9A-Z]{3}$/.test(code)) return badRequest('A value in the request is out of range or not valid for its field.');
  if (DATABASE_UNAVAILABLE.test(code)) {
    return new ApiProblem(503, 'The database is unavailable; nothing was changed. Try again shortly.', {
      title: 'Service Unavailable',
      headers: { 'retry-after': String(DATABASE_RETRY_AFTER_S) },
    });
  }
  return undefined;
}

interface AjvErrorLike {
  readonly keyword?: unknown;
  readonly params?: { readonly additionalProperty?: unknown };
}

/** fastify's message, plus the name of an unknown property (ajv's message leaves it out). */
function validationDetail(e: ErrorLike & { validationContext?: unknown }): string {
  const first: AjvErrorLike | undefined = Array.isArray(e.validation) ? (e.validation[0] as AjvErrorLike) : undefined;
  const extra = first?.keyword === 'additionalProperties' ? first.params?.additionalProperty : undefined;
  if (typeof extra === 'string') {
    const where = typeof e.validationContext === 'string' ? e.validationContext : 'request';
    return `${where} has an unknown property ${JSON.stringify(extra.slice(0, 64))}; see /docs for what this route takes.`;
  }
  return String(e.message);
}

export function sendProblem(reply: FastifyReply, problem: ApiProblem): FastifyReply {
  for (const [name, value] of Object.entries(problem.headers)) reply.header(name, value);
  // Serialised here rather than by a route's response schema, so the shape does not depend on
  // which route (if any) the error came from.
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).serializer(JSON.stringify).send(problem.toJSON());
}

/**
 * Replaces fastify's clientError handler (malformed HTTP, oversized headers, timeouts), which
 * answers with application/json of its own shape.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const detail =
    status === 408 ? 'The request was not received in time.' : status === 431 ? 'The request headers are too large.' : 'The request is not valid HTTP.';
  const body = JSON.stringify(new ApiProblem(status, detail).toJSON());
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
