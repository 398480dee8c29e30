import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, OPTIONS, loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('gives the documented defaults with an empty environment', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      domain: 'localhost',
      c2sPort: 5222,
      c2sTlsPort: 5223,
      httpPort: 5280,
      httpsPort: 5281,
      dataDir: './data',
      requireTls: true,
      maxStanzaBytes: 262144,
      databaseUrl: undefined,
    });
  });

  it.each([
    ['C2S_PORT', '70000'],
    ['C2S_PORT', 'abc'],
    ['C2S_REQUIRE_TLS', 'maybe'],
    ['XMPP_DOMAIN', 'not a domain'],
    ['DATABASE_URL', 'mysql://x'],
    ['MAX_STANZA_BYTES', '10'],
    ['LOG_LEVEL', 'loud'],
    ['TRUSTED_PROXIES', '10.0.0.1,not-an-ip'],
    ['TLS_CERT', '/tmp/cert.pem'],
  ])('fails fast naming %s when it is %s', (variable, value) => {
    expect(() => loadConfig({ [variable]: value })).toThrow(ConfigError);
    try {
      loadConfig({ [variable]: value });
    } catch (err) {
      expect((err as ConfigError).message).toContain(variable === 'TLS_CERT' ? 'TLS_' : variable);
    }
  });

  it('normalises the domain and parses lists and booleans', () => {
    const c = loadConfig({ XMPP_DOMAIN: 'Example.COM.', TRUSTED_PROXIES: '127.0.0.1, ::1', C2S_REQUIRE_TLS: 'false' });
    expect(c.domain).toBe('example.com');
    expect(c.trustedProxies).toEqual(['127.0.0.1', '::1']);
    expect(c.requireTls).toBe(false);
  });

  it('never echoes a secret value in its error', () => {
    expect(() => loadConfig({ ADMIN_TOKEN: '' })).not.toThrow();
    expect(() => loadConfig({ ADMIN_TOKEN: 'admin1' })).toThrow(ConfigError);
    try {
      loadConfig({ ADMIN_TOKEN: 'admin1' });
    } catch (err) {
      expect((err as ConfigError).message).not.toContain('admin1');
    }
  });

  it.each([
    ['admin1', false],
    ['x'.repeat(31), false],
    ['x'.repeat(32), true],
    ['0123456789abcdefghijklmnopqrstuv-._~+/==', true],
    [`${'x'.repeat(32)} with spaces`, false], // not a bearer token (RFC 6750 b64token): could never be sent
    ['x'.repeat(513), false],
  ])('ADMIN_TOKEN %s: accepted %s (at least 32 characters a bearer header can carry)', (token, ok) => {
    if (ok) expect(loadConfig({ ADMIN_TOKEN: token }).adminToken).toBe(token);
    else expect(() => loadConfig({ ADMIN_TOKEN: token })).toThrow(/^ADMIN_TOKEN: /);
  });

  it('gives API tokens a default lifetime of 90 days and a maximum of 365, and refuses a default past the maximum', () => {
    expect(loadConfig({})).toMatchObject({ tokenLifetimeDays: 90, tokenMaxLifetimeDays: 365 });
    expect(loadConfig({ TOKEN_LIFETIME_DAYS: '7', TOKEN_MAX_LIFETIME_DAYS: '30' })).toMatchObject({ tokenLifetimeDays: 7, tokenMaxLifetimeDays: 30 });
    expect(() => loadConfig({ TOKEN_LIFETIME_DAYS: '0' })).toThrow(/^TOKEN_LIFETIME_DAYS: /);
    expect(() => loadConfig({ TOKEN_MAX_LIFETIME_DAYS: '3651' })).toThrow(/^TOKEN_MAX_LIFETIME_DAYS: /);
    expect(() => loadConfig({ TOKEN_LIFETIME_DAYS: '100', TOKEN_MAX_LIFETIME_DAYS: '30' })).toThrow(/^TOKEN_LIFETIME_DAYS: .*TOKEN_MAX_LIFETIME_DAYS/);
  });
});

describe('README configuration table', () => {
  it('documents exactly the options the code declares, with their defaults', () => {
    const readme = readFileSync(path.join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const table = readme.split('<!-- config-table:start -->')[1]!.split('<!-- config-table:end -->')[0]!;
    const rows = table
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .map((l) => {
        const cells = l.split('|').map((c) => c.trim());
        return { env: cells[1]!.replace(/`/g, ''), def: cells[2]!.replace(/`/g, '') };
      });
    expect(rows.map((r) => r.env)).toEqual(OPTIONS.map((o) => o.env));
    for (const o of OPTIONS) {
      const row = rows.find((r) => r.env === o.env)!;
      expect(row.def, o.env).toBe(o.default === undefined ? '(unset)' : o.default);
    }
  });
});
