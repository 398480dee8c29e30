// The web console: the static files of console/dist (built by scripts/build-console.ts) at
// /console/, and / redirecting there. The console is a single page with hash routing
// (#/incidents, #/search…), so the server only ever serves index.html and a few assets; every
// piece of data comes from /api with the visitor's own session, so these routes are public.
//
// Files are read from disk on each request (they are few and small, the OS caches them), so a
// rebuild of the console is picked up without a restart. Names are hashed by the build
// (app-3F2A1C.js), which lets the browser keep assets for good; index.html is always revalidated.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { extname, join } from 'node:path';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { ApiProblem } from '../errors.ts';
import type { RouteAccess } from '../principal.ts';

/** console/dist of this checkout. */
export const DEFAULT_CONSOLE_DIST = fileURLToPath(new URL('../../../console/dist/', import.meta.url));

export interface ConsoleRoutesOptions {
  /** Folder holding the built console (index.html and its assets); default console/dist. */
  readonly distDir?: string;
}

/**
 * Strict by design: scripts and styles only from this origin (no inline script, no eval), data
 * only from this origin's API, never framed. The console needs nothing more.
 */
export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cross-origin-opener-policy': 'same-origin',
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** An asset name as the build writes them: one path segment, no dot files, a known extension. */
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;
/** The build's hashed names (app-3F2A1CQX.js) never change content, so they may be cached for good. */
const HASHED_NAME = /-[A-Z0-9]{8}\.(js|css)(\.map)?$/;

const notBuilt = () =>
  new ApiProblem(503, 'The web console has not been built. Run `npm run build:console` (npm install and npm start do it too).', {
    type: 'urn:warden:problem:console-not-built',
    title: 'Console not built',
  });

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
    throw err;
  }
}

export const consoleRoutes: FastifyPluginAsync<ConsoleRoutesOptions> = async (app, opts) => {
  const distDir = opts.distDir ?? DEFAULT_CONSOLE_DIST;
  // Outside /api, but declared all the same: anyone may load the page (its data needs a session).
  const config: { roles: RouteAccess } = { roles: 'public' };

  const withSecurityHeaders = (reply: FastifyReply) => reply.headers(CONSOLE_SECURITY_HEADERS);

  const sendIndex = async (reply: FastifyReply) => {
    const html = await readIfExists(join(distDir, 'index.html'));
    if (html === undefined) throw notBuilt();
    return withSecurityHeaders(reply).header('cache-control', 'no-cache').type(CONTENT_TYPES['.html'] ?? 'text/html').send(html);
  };

  app.get('/', { config }, async (_request, reply) => reply.redirect('/console/', 302));
  app.get('/console', { config }, async (_request, reply) => reply.redirect('/console/', 302));
  app.get('/console/', { config }, async (_request, reply) => sendIndex(reply));

  app.get<{ Params: { file: string } }>('/console/:file', { config }, async (request, reply) => {
    const { file } = request.params;
    if (file === 'index.html') return sendIndex(reply);
    const type = CONTENT_TYPES[extname(file)];
    const body = type !== undefined && ASSET_NAME.test(file) ? await readIfExists(join(distDir, file)) : undefined;
    if (body === undefined) {
      if ((await readIfExists(join(distDir, 'index.html'))) === undefined) throw notBuilt();
      throw new ApiProblem(404, `The console has no file ${JSON.stringify(file)}.`);
    }
    const cache = HASHED_NAME.test(file) ? 'public, max-age=31536000, immutable' : 'no-cache';
    return withSecurityHeaders(reply).header('cache-control', cache).type(type ?? 'application/octet-stream').send(body);
  });
};
