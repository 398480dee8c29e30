// Configuration: every option declared once, as data, with its bounds, default and one line of
// documentation. The README's table is checked against this list by a test (config.test.ts).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isJidError, normalizeDomainpart, parseJid } from './stanza/jid.ts';

type Kind = 'string' | 'port' | 'int' | 'bool' | 'list' | 'domain' | 'level' | 'path' | 'url' | 'http-url' | 'secret' | 'bearer-token';

export interface OptionSpec {
  readonly env: string;
  readonly kind: Kind;
  /** The default as the string a user would write; undefined means "unset". */
  readonly default?: string;
  /** int: the smallest value; bearer-token: the fewest characters. */
  readonly min?: number;
  /** int: the largest value; bearer-token: the most characters. */
  readonly max?: number;
  readonly doc: string;
}

export const OPTIONS: readonly OptionSpec[] = [
  { env: 'XMPP_DOMAIN', kind: 'domain', default: 'localhost', doc: 'The XMPP domain this server hosts (the part after @ in user JIDs).' },
  { env: 'BIND_HOST', kind: 'string', default: '0.0.0.0', doc: 'Address every listener binds to (use 127.0.0.1 to keep Warden local).' },
  { env: 'C2S_PORT', kind: 'port', default: '5222', doc: 'Client-to-server TCP port (STARTTLS). 0 picks a free port.' },
  { env: 'C2S_TLS_PORT', kind: 'port', default: '5223', doc: 'Client-to-server direct TLS port (XEP-0368).' },
  { env: 'HTTP_PORT', kind: 'port', default: '5280', doc: 'HTTP port: admin API, health checks, XMPP over WebSocket (ws://…/xmpp-websocket).' },
  { env: 'HTTPS_PORT', kind: 'port', default: '5281', doc: 'HTTPS port: the same as HTTP_PORT over TLS (wss://…/xmpp-websocket).' },
  { env: 'DATABASE_URL', kind: 'url', doc: 'PostgreSQL connection URL. Unset: an embedded PostgreSQL (PGlite) in DATA_DIR, for trying Warden out only.' },
  { env: 'DATA_DIR', kind: 'path', default: './data', doc: 'Folder for the embedded database and the generated TLS certificate.' },
  { env: 'TLS_CERT', kind: 'path', doc: 'PEM certificate (chain) path. Unset: a self-signed certificate for XMPP_DOMAIN is generated once into DATA_DIR.' },
  { env: 'TLS_KEY', kind: 'path', doc: 'PEM private key path; required when TLS_CERT is set.' },
  { env: 'ADMIN_TOKEN', kind: 'bearer-token', min: 32, max: 512, doc: 'Bootstrap bearer token for the admin API (stored hashed): at least 32 characters of A–Z a–z 0–9 - . _ ~ + / (e.g. `openssl rand -base64 32`). Once revoked through the API it stays revoked. Unset and none stored: one is generated and printed once.' },
  { env: 'C2S_REQUIRE_TLS', kind: 'bool', default: 'true', doc: 'Require TLS before authentication, on XMPP streams and for HTTP API credentials (password, token, session cookie); loopback and a trusted proxy that terminated TLS count as TLS. false allows SASL on plain TCP/ws and credentials over plain HTTP (benchmarks, trusted LANs).' },
  { env: 'TRUSTED_PROXIES', kind: 'list', default: '', doc: 'Comma-separated IPs of reverse proxies that terminate TLS; their X-Forwarded-For/-Proto are believed.' },
  { env: 'ALLOWED_ORIGINS', kind: 'list', default: '', doc: 'Comma-separated Origins allowed to open WebSocket streams. Empty: any origin.' },
  { env: 'MAX_STANZA_BYTES', kind: 'int', default: '262144', min: 1024, max: 16 * 1024 * 1024, doc: 'Largest stanza accepted; larger ends the stream with <policy-violation/>.' },
  { env: 'C2S_RATE_BYTES', kind: 'int', default: '1048576', min: 1024, max: 1024 * 1024 * 1024, doc: 'Per-connection read rate limit in bytes/s (a flooding client is slowed, not dropped).' },
  { env: 'AUTH_TIMEOUT_MS', kind: 'int', default: '30000', min: 100, max: 3_600_000, doc: 'A connection that has not authenticated and bound within this time is closed.' },
  { env: 'LOGIN_MAX_FAILURES', kind: 'int', default: '5', min: 1, max: 1000, doc: 'Failed logins from one address (an IPv6 /64), or for one console account, within a minute before it is made to wait.' },
  { env: 'TOKEN_LIFETIME_DAYS', kind: 'int', default: '90', min: 1, max: 3650, doc: 'An API token created without an expiry expires after this many days.' },
  { env: 'TOKEN_MAX_LIFETIME_DAYS', kind: 'int', default: '365', min: 1, max: 3650, doc: 'The farthest expiry an API token may be given, in days (bootstrap tokens never expire).' },
  { env: 'SHUTDOWN_GRACE_MS', kind: 'int', default: '5000', min: 0, max: 600_000, doc: 'How long SIGTERM waits for streams and storage to close before exiting.' },
  { env: 'DB_POOL_SIZE', kind: 'int', default: '10', min: 1, max: 200, doc: 'PostgreSQL connection pool size.' },
  { env: 'OFFLINE_QUOTA', kind: 'int', default: '1000', min: 0, max: 1_000_000, doc: 'Messages kept per account while it is offline (XEP-0160); past it senders get <resource-constraint/>. 0 stores none.' },
  { env: 'PING_INTERVAL_MS', kind: 'int', default: '300000', min: 0, max: 86_400_000, doc: 'A session silent for this long is pinged (XEP-0199). 0 turns server pings off.' },
  { env: 'PING_TIMEOUT_MS', kind: 'int', default: '30000', min: 100, max: 3_600_000, doc: 'A session that does not answer a server ping within this time is closed with <connection-timeout/>.' },
  { env: 'REGISTRATION_ENABLED', kind: 'bool', default: 'false', doc: 'In-band registration (XEP-0077): users may change their password and remove their account over XMPP.' },
  { env: 'ENCRYPTED_MESSAGES', kind: 'string', default: 'block', doc: 'End-to-end encrypted messages (OMEMO, OpenPGP, OTR): block (refused with <policy-violation/>) or flag (delivered, incident opened).' },
  { env: 'NODE_ID', kind: 'string', default: 'main', doc: 'This node\'s name; its archive rows form their own hash chain. Unique per running Warden process.' },
  { env: 'OFFICER_JIDS', kind: 'list', default: '', doc: 'Comma-separated bare JIDs of local accounts that get an XMPP headline for every new incident.' },
  { env: 'WEBHOOK_URL', kind: 'http-url', doc: 'http(s) URL that receives each new incident as JSON (POST), retried with backoff until a 2xx. Unset: no webhook.' },
  { env: 'WEBHOOK_SECRET', kind: 'secret', doc: 'Key for the webhook\'s X-Warden-Signature header (sha256= HMAC-SHA256 of the body, hex).' },
  { env: 'RETENTION_DAYS', kind: 'int', default: '0', min: 0, max: 36_500, doc: 'Archived messages older than this many days are deleted (in small batches, every RETENTION_INTERVAL_MS), except those under a legal hold, with an open incident or an escalated one. Undelivered offline copies older than this go too. Each batch is recorded (retention_batches) so archive verify can tell its deletions from tampering. 0 keeps them for ever.' },
  { env: 'RETENTION_INTERVAL_MS', kind: 'int', default: '3600000', min: 1000, max: 604_800_000, doc: 'How often the retention job looks for messages past RETENTION_DAYS.' },
  { env: 'LOG_LEVEL', kind: 'level', default: 'info', doc: 'debug, info, warn or error.' },
  { env: 'WARDEN_CONFIG', kind: 'path', doc: 'Optional JSON file of these same variables ({"XMPP_DOMAIN": "example.com", …}); the environment wins over it.' },
];

export interface Config {
  readonly domain: string;
  readonly bindHost: string;
  readonly c2sPort: number;
  readonly c2sTlsPort: number;
  readonly httpPort: number;
  readonly httpsPort: number;
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  readonly adminToken: string | undefined;
  readonly requireTls: boolean;
  readonly trustedProxies: readonly string[];
  readonly allowedOrigins: readonly string[];
  readonly maxStanzaBytes: number;
  readonly c2sRateBytes: number;
  readonly authTimeoutMs: number;
  readonly loginMaxFailures: number;
  /** Lifetime of an API token created without expiresAt. */
  readonly tokenLifetimeDays: number;
  readonly tokenMaxLifetimeDays: number;
  readonly shutdownGraceMs: number;
  readonly dbPoolSize: number;
  readonly offlineQuota: number;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly registrationEnabled: boolean;
  readonly officerJids: readonly string[];
  readonly webhookUrl: string | undefined;
  readonly webhookSecret: string | undefined;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  readonly encryptedMessages: 'block' | 'flag';
  readonly nodeId: string;
  /** 0: keep archived messages for ever. */
  readonly retentionDays: number;
  readonly retentionIntervalMs: number;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function parseValue(spec: OptionSpec, raw: string): string | number | boolean | string[] {
  const fail = (msg: string): never => {
    const secret = spec.kind === 'secret' || spec.kind === 'bearer-token';
    throw new ConfigError(spec.env, `${msg} (got ${secret ? 'a value' : JSON.stringify(raw)})`);
  };
  switch (spec.kind) {
    case 'port': {
      if (!/^\d+$/.test(raw)) return fail('must be a port number 0–65535');
      const n = Number(raw);
      return n <= 65535 ? n : fail('must be a port number 0–65535');
    }
    case 'int': {
      if (!/^\d+$/.test(raw)) return fail('must be a whole number');
      const n = Number(raw);
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        return fail(`must be between ${spec.min} and ${spec.max}`);
      }
      return n;
    }
    case 'bool': {
      const v = raw.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      return fail('must be true or false');
    }
    case 'list':
      return raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    case 'domain': {
      const d = normalizeDomainpart(raw);
      return d ?? fail('must be a valid domain name');
    }
    case 'level':
      return ['debug', 'info', 'warn', 'error'].includes(raw) ? raw : fail('must be debug, info, warn or error');
    case 'url':
      return /^postgres(ql)?:\/\//.test(raw) ? raw : fail('must be a postgres:// or postgresql:// URL');
    case 'http-url':
      return /^https?:\/\/[^/?#]+/i.test(raw) && URL.canParse(raw) ? raw : fail('must be an http:// or https:// URL');
    case 'string':
    case 'path':
    case 'secret':
      return raw.length > 0 ? raw : fail('must not be empty');
    case 'bearer-token': {
      // What an Authorization: Bearer header can carry (RFC 6750 §2.1 b64token), and long enough
      // that guessing it is hopeless (the API also throttles invalid tokens per address).
      if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(raw)) return fail('must be letters, digits and - . _ ~ + / only (a bearer token)');
      const [min = 1, max = Number.MAX_SAFE_INTEGER] = [spec.min, spec.max];
      return raw.length >= min && raw.length <= max ? raw : fail(`must be ${min}–${max} characters long`);
    }
  }
}

function oneOf<T extends string>(value: string, allowed: readonly T[], variable: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(variable, `must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
}

function fail(variable: string, message: string): never {
  throw new ConfigError(variable, message);
}

/** Reads the configuration; throws ConfigError naming the variable on the first invalid value. */
export function loadConfig(env: Env = process.env): Config {
  let merged: Env = env;
  const file = env.WARDEN_CONFIG;
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError('WARDEN_CONFIG', `cannot read ${file}: ${(err as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ConfigError('WARDEN_CONFIG', `${file} must hold a JSON object`);
    }
    const fromFile: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsed)) {
      if (!OPTIONS.some((o) => o.env === k)) throw new ConfigError('WARDEN_CONFIG', `${file}: unknown option ${k}`);
      fromFile[k] = Array.isArray(v) ? v.join(',') : String(v);
    }
    merged = { ...fromFile, ...env };
  }
  const values = new Map<string, string | number | boolean | string[] | undefined>();
  for (const spec of OPTIONS) {
    const raw = merged[spec.env];
    const source = raw !== undefined && raw !== '' ? raw : spec.default;
    values.set(spec.env, source === undefined ? undefined : parseValue(spec, source));
  }
  const get = <T>(k: string) => values.get(k) as T;
  for (const p of get<string[]>('TRUSTED_PROXIES')) {
    if (isIP(p) === 0) throw new ConfigError('TRUSTED_PROXIES', `${JSON.stringify(p)} is not an IP address`);
  }
  const officerJids = get<string[]>('OFFICER_JIDS').map((raw) => {
    const jid = parseJid(raw);
    if (isJidError(jid) || jid.local === '' || jid.resource !== '' || jid.domain !== get<string>('XMPP_DOMAIN')) {
      throw new ConfigError('OFFICER_JIDS', `${JSON.stringify(raw)} is not the bare JID of an account on XMPP_DOMAIN`);
    }
    return `${jid.local}@${jid.domain}`;
  });
  if (get<number>('TOKEN_LIFETIME_DAYS') > get<number>('TOKEN_MAX_LIFETIME_DAYS')) {
    throw new ConfigError('TOKEN_LIFETIME_DAYS', 'must not be more than TOKEN_MAX_LIFETIME_DAYS');
  }
  const tlsCert = get<string | undefined>('TLS_CERT');
  const tlsKey = get<string | undefined>('TLS_KEY');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new ConfigError(tlsCert ? 'TLS_KEY' : 'TLS_CERT', 'TLS_CERT and TLS_KEY must be set together');
  }
  return {
    domain: get('XMPP_DOMAIN'),
    bindHost: get('BIND_HOST'),
    c2sPort: get('C2S_PORT'),
    c2sTlsPort: get('C2S_TLS_PORT'),
    httpPort: get('HTTP_PORT'),
    httpsPort: get('HTTPS_PORT'),
    databaseUrl: get('DATABASE_URL'),
    dataDir: get('DATA_DIR'),
    tlsCert,
    tlsKey,
    adminToken: get('ADMIN_TOKEN'),
    requireTls: get('C2S_REQUIRE_TLS'),
    trustedProxies: get('TRUSTED_PROXIES'),
    allowedOrigins: get('ALLOWED_ORIGINS'),
    maxStanzaBytes: get('MAX_STANZA_BYTES'),
    c2sRateBytes: get('C2S_RATE_BYTES'),
    authTimeoutMs: get('AUTH_TIMEOUT_MS'),
    loginMaxFailures: get('LOGIN_MAX_FAILURES'),
    tokenLifetimeDays: get('TOKEN_LIFETIME_DAYS'),
    tokenMaxLifetimeDays: get('TOKEN_MAX_LIFETIME_DAYS'),
    shutdownGraceMs: get('SHUTDOWN_GRACE_MS'),
    dbPoolSize: get('DB_POOL_SIZE'),
    offlineQuota: get('OFFLINE_QUOTA'),
    pingIntervalMs: get('PING_INTERVAL_MS'),
    pingTimeoutMs: get('PING_TIMEOUT_MS'),
    registrationEnabled: get('REGISTRATION_ENABLED'),
    officerJids,
    webhookUrl: get('WEBHOOK_URL'),
    webhookSecret: get('WEBHOOK_SECRET'),
    logLevel: get('LOG_LEVEL'),
    encryptedMessages: oneOf(get('ENCRYPTED_MESSAGES'), ['block', 'flag'] as const, 'ENCRYPTED_MESSAGES'),
    nodeId: /^[A-Za-z0-9._-]{1,64}$/.test(get('NODE_ID')) ? get('NODE_ID') : fail('NODE_ID', 'must be 1–64 letters, digits, dots, dashes or underscores'),
    retentionDays: get('RETENTION_DAYS'),
    retentionIntervalMs: get('RETENTION_INTERVAL_MS'),
  };
}
