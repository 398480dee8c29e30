// Every route of the HTTP API against every kind of caller, read from the server's own OpenAPI
// document (which test/operations.test.ts checks lists every /api route with its roles): no
// credentials → 401, a role the route does not name → 403, a role it names → neither. Nothing is
// hard-coded per route, so a route added later is checked the day it is added.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../src/api/principal.ts';
import { startTestServer, type TestServer } from './support/server.ts';

let t: TestServer;
let operations: Array<{ method: string; path: string; roles: 'public' | 'any' | Role[] }> = [];
const ROLES: Role[] = ['admin', 'officer', 'auditor'];

beforeAll(async () => {
  t = await startTestServer();
  const doc = (await (await fetch(`http://127.0.0.1:${t.server.ports.http}/docs/json`)).json()) as {
    paths: Record<string, Record<string, { description?: string }>>;
  };
  for (const [path, methods] of Object.entries(doc.paths)) {
    if (!path.startsWith('/api/')) continue;
    for (const [method, op] of Object.entries(methods)) {
      const line = /Roles: ([^.]+)\./.exec(op.description ?? '')?.[1] ?? '';
      const roles = line.startsWith('none') ? 'public' : line.startsWith('any') ? 'any' : (line.split(', ') as Role[]);
      operations.push({ method: method.toUpperCase(), path, roles });
    }
  }
});
afterAll(async () => {
  await t?.close();
});

/** A concrete URL for a documented path: every parameter an id that names nothing. */
const urlOf = (path: string) => `http://127.0.0.1:${t.server.ports.http}${path.replace(/\{[^}]+\}/g, '999999')}`;

async function status(method: string, path: string, token?: string): Promise<number> {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const hasBody = method === 'POST' || method === 'PUT' || method === 'PATCH';
  if (hasBody) headers['content-type'] = 'application/json';
  const res = await fetch(urlOf(path), { method, headers, body: hasBody ? '{}' : undefined });
  await res.arrayBuffer();
  return res.status;
}

describe('role checks on every /api route', () => {
  it('finds the routes and their roles in the OpenAPI document', () => {
    expect(operations.length).toBeGreaterThan(40);
    for (const op of operations) expect(op.roles === 'public' || op.roles === 'any' || op.roles.every((r) => ROLES.includes(r)), `${op.method} ${op.path}`).toBe(true);
    // Spot checks of the separation of duties the issue asks for.
    const rolesOf = (method: string, path: string) => operations.find((o) => o.method === method && o.path.replace(/\/$/, '') === path)?.roles;
    expect(rolesOf('GET', '/api/v1/messages')).toEqual(['officer']);
    expect(rolesOf('GET', '/api/v1/access-log')).toEqual(['auditor']);
    expect(rolesOf('POST', '/api/v1/accounts')).toEqual(['admin']);
    expect(rolesOf('POST', '/api/v1/auth/login')).toBe('public');
  });

  it('answers 401 without credentials, 403 to the wrong role and lets the right roles through', async () => {
    const failures: string[] = [];
    for (const op of operations) {
      const label = `${op.method} ${op.path}`;
      if (op.roles !== 'public') {
        const s = await status(op.method, op.path);
        if (s !== 401) failures.push(`${label} without credentials: ${s}, expected 401`);
      }
      for (const role of ROLES) {
        const allowed = op.roles === 'public' || op.roles === 'any' || op.roles.includes(role);
        const s = await status(op.method, op.path, t.tokens[role]);
        if (allowed && (s === 401 || s === 403)) failures.push(`${label} as ${role}: ${s}, expected to pass the role check`);
        if (!allowed && s !== 403) failures.push(`${label} as ${role}: ${s}, expected 403`);
      }
    }
    expect(failures).toEqual([]);
  });
});
