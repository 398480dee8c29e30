// Every route a fastify app serves, read from app.printRoutes() — independent of any onRoute
// hook, so a test can check that something built from onRoute (the OpenAPI document) missed none.
import type { FastifyInstance } from 'fastify';

export interface RouteEntry {
  readonly method: string;
  readonly url: string;
}

/** Routes of a ready app, HEAD routes that fastify adds for each GET left out. */
export function routesOf(app: FastifyInstance): RouteEntry[] {
  const out: RouteEntry[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    // Each level of the tree is 4 characters of "│   " or "    ", then "├── " or "└── ".
    const branch = line.indexOf('── ');
    if (branch < 0) continue;
    const start = branch + 3;
    const depth = (start - 4) / 4;
    const m = /^(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line.slice(start));
    if (!m) continue;
    const segment = m[1]!;
    stack.length = depth;
    const url = stack.join('') + segment;
    stack.push(segment);
    for (const method of (m[2] ?? '').split(', ')) if (method !== '' && method !== 'HEAD') out.push({ method, url });
  }
  return out;
}
