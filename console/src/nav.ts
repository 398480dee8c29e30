// The console's pages, and which roles see each in the navigation. The server decides what a
// role may read (a page a role cannot use shows the server's 403); this only keeps menus short.
import type { Role } from './types.ts';

export interface NavItem {
  readonly path: string;
  readonly label: string;
  readonly roles: readonly Role[];
  /** After "g": g q → queue. */
  readonly key: string;
}

export const NAV: readonly NavItem[] = [
  { path: '/incidents', label: 'Queue', roles: ['officer'], key: 'q' },
  { path: '/holds', label: 'Holds', roles: ['officer'], key: 'h' },
  { path: '/search', label: 'Search', roles: ['officer'], key: 's' },
  { path: '/conversation', label: 'Conversations', roles: ['officer'], key: 'c' },
  { path: '/exports', label: 'Exports', roles: ['officer'], key: 'e' },
  // p: preservation (l is the access log; every letter here is unique across roles).
  { path: '/legal-holds', label: 'Legal holds', roles: ['officer'], key: 'p' },
  { path: '/rules', label: 'Rules', roles: ['officer', 'admin'], key: 'r' },
  { path: '/access-log', label: 'Access log', roles: ['auditor'], key: 'l' },
  { path: '/verify', label: 'Verify', roles: ['auditor', 'admin'], key: 'v' },
  { path: '/accounts', label: 'Accounts', roles: ['admin'], key: 'a' },
  { path: '/tokens', label: 'Tokens', roles: ['admin'], key: 't' },
];

export const navFor = (role: Role) => NAV.filter((item) => item.roles.includes(role));

/** Where a role lands after logging in. */
export const HOME: Readonly<Record<Role, string>> = { officer: '/incidents', auditor: '/access-log', admin: '/rules' };
