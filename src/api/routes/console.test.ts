// The console's static routes with app.inject(): what is served, with which headers, and the
// 503 that says how to build it when it has not been built.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sendProblem, toProblem } from '../errors.ts';
import { consoleRoutes } from './console.ts';

let dist: string;
let app: FastifyInstance;

async function appServing(distDir: string): Promise<FastifyInstance> {
  const instance = Fastify();
  // As in app.ts: thrown problems become problem+json.
  instance.setErrorHandler((err, request, reply) => sendProblem(reply, toProblem(err, request.id).problem));
  await instance.register(consoleRoutes, { distDir });
  return instance;
}

beforeEach(async () => {
  dist = await mkdtemp(join(tmpdir(), 'warden-console-dist-'));
  app = await appServing(dist);
});
afterEach(async () => {
  await app.close();
  await rm(dist, { recursive: true, force: true });
});

const build = async () => {
  await writeFile(join(dist, 'index.html'), '<!doctype html><script type="module" src="app-ABCDEFGH.js"></script>');
  await writeFile(join(dist, 'app-ABCDEFGH.js'), 'console.log(1)');
  await writeFile(join(dist, 'favicon.svg'), '<svg/>');
};

describe('console routes', () => {
  it('redirects / and /console to /console/', async () => {
    for (const url of ['/', '/console']) {
      const res = await app.inject({ url });
      expect(res.statusCode).toBe(302);
      expect(res.headers.location).toBe('/console/');
    }
  });

  it('serves index.html with a strict CSP, no framing, no referrer, always revalidated', async () => {
    await build();
    const res = await app.inject({ url: '/console/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cache-control']).toBe('no-cache');
  });

  it('serves hashed assets for good and others revalidated', async () => {
    await build();
    const js = await app.inject({ url: '/console/app-ABCDEFGH.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toContain('immutable');
    const icon = await app.inject({ url: '/console/favicon.svg' });
    expect(icon.headers['content-type']).toBe('image/svg+xml');
    expect(icon.headers['cache-control']).toBe('no-cache');
  });

  it('answers 404 for unknown files and never reads outside the dist folder', async () => {
    await build();
    await writeFile(join(dist, '.secret.js'), 'x');
    for (const url of ['/console/nope.js', '/console/..%2Fpackage.json', '/console/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/console/.secret.js', '/console/app.exe']) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(404);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
  });

  it('says how to build the console when it has not been built', async () => {
    for (const url of ['/console/', '/console/app-ABCDEFGH.js']) {
      const res = await app.inject({ url });
      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json()).toMatchObject({ status: 503, type: 'urn:warden:problem:console-not-built' });
      expect(res.json().detail).toContain('npm run build:console');
    }
  });
});
