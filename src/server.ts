// The composition root: reads nothing itself (config arrives parsed), wires every part, owns
// start and stop. Order matters where commented.
import type net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildApiApp } from './api/app.ts';
import { INVALID_TOKENS_PER_MINUTE, type CredentialPolicy } from './api/auth.ts';
import { readinessProbe } from './api/routes/health.ts';
import { HttpMetrics } from './metrics/http-metrics.ts';
import { cachedOpenIncidents, queryOpenIncidents } from './metrics/open-incidents.ts';
import { countByTransport, createMetricsEndpoint } from './metrics/registry.ts';
import { WardenMetrics } from './metrics/warden-metrics.ts';
import type { ApiDeps, SessionDirectory } from './api/deps.types.ts';
import { createAuditPipeline, type AuditPipeline } from './audit/pipeline.ts';
import { PolicyManager } from './audit/policy-manager.ts';
import { createRuleStore } from './audit/rule-store.ts';
import { auditScanRoutes } from './api/routes/audit-scan.ts';
import { incidentsRoutes } from './api/routes/incidents.ts';
import { archiveRoutes } from './api/routes/archive.ts';
import { messagesRoutes } from './api/routes/messages.ts';
import { conversationsRoutes } from './api/routes/conversations.ts';
import { exportManifestRoutes, exportRoutes } from './api/routes/export.ts';
import { LiveExports, failInterruptedExports, sealUnloggedExportEnds } from './audit/archive-export.ts';
import { retroScansRoutes } from './api/routes/retro-scans.ts';
import { ruleStatsRoutes } from './api/routes/rule-stats.ts';
import { RetroScanner } from './audit/retro-scan.ts';
import { SearchIndexer } from './audit/search-indexer.ts';
import { RetentionJob } from './audit/retention.ts';
import { createLegalHoldStore } from './audit/legal-holds.ts';
import { legalHoldsRoutes } from './api/routes/legal-holds.ts';
import { createAlerts } from './audit/alerts.ts';
import { createHeldMessages } from './audit/held-messages.ts';
import { createIncidentStore } from './audit/incident-store.ts';
import { groupsRoutes, rulesRoutes } from './api/routes/rules.ts';
import type { ApiResource } from './api/app.ts';
import { deriveCredentials } from './auth/scram.ts';
import { LoginThrottle } from './auth/throttle.ts';
import type { Config } from './config.ts';
import { createLogger, type Logger } from './log.ts';
import { coreModules } from './modules/index.ts';
import { preAuthRegistration } from './modules/xep0077-register.ts';
import { isJidError, normalizeLocalpart, parseJid } from './stanza/jid.ts';
import { ModuleHost } from './stanza/module-host.ts';
import { Router } from './stanza/router.ts';
import { SessionRegistry } from './stanza/session-registry.ts';
import { createApiTokenStore, generateToken, type ApiTokenStore } from './storage/api-token-store.ts';
import { createConsoleAccountStore } from './accounts/account-store.ts';
import { createAuthenticator } from './accounts/authenticator.ts';
import { createConsoleSessionStore } from './accounts/session-store.ts';
import { createAccessLogStore } from './audit/access-log.ts';
import { accessLogRoutes } from './api/routes/access-log.ts';
import { accountsRoutes } from './api/routes/accounts.ts';
import { loginRoutes } from './api/routes/login.ts';
import { tokensRoutes } from './api/routes/tokens.ts';
import { openDatabase } from './storage/database.ts';
import type { Database } from './storage/database.types.ts';
import { defaultMigrationsDir, migrate } from './storage/migrate.ts';
import { createUserStore, type UserStore } from './storage/user-store.ts';
import { C2SSession, type C2SContext } from './stream/c2s-session.ts';
import { listenC2S } from './stream/socket-transport.ts';
import { streamError } from './stream/stream-error.ts';
import { loadTlsCredentials } from './stream/tls-credentials.ts';
import type { Transport } from './stream/transport.ts';
import type { Jid } from './stanza/jid.ts';
import type { Element } from './xml.ts';
import { registerXmppWebSocket } from './stream/websocket-transport.ts';

/** A console session ends after this long without a request… */
const CONSOLE_IDLE_MS = 30 * 60_000;
/** …and this long after login, whatever happens. */
const CONSOLE_SESSION_MS = 12 * 3600_000;

export interface WardenServer {
  readonly config: Config;
  readonly db: Database;
  readonly sessions: SessionRegistry<C2SSession>;
  readonly router: Router;
  readonly audit: AuditPipeline;
  readonly policy: PolicyManager;
  /** The ports actually bound (useful when the config asked for 0). */
  readonly ports: { readonly c2s: number; readonly c2sTls: number; readonly http: number; readonly https: number };
  /** The admin token generated at this start, when none was configured or stored (shown once). */
  readonly generatedAdminToken: string | undefined;
  /** Counters the router and the audit pipeline keep for /metrics. */
  readonly metrics: WardenMetrics;
  /** The plain-HTTP fastify app (tests read its routes). */
  readonly http: FastifyInstance;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly log?: Logger;
  /** An already-open, migrated database (tests); otherwise opened from the config. */
  readonly database?: Database;
}

export async function startServer(config: Config, opts: StartOptions = {}): Promise<WardenServer> {
  const log = opts.log ?? createLogger(config.logLevel);
  const db = opts.database ?? (await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, log, poolSize: config.dbPoolSize }));
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    if (!opts.database) await migrate(db.sql, defaultMigrationsDir, log);
    // Every account deletion (admin API, CLI on this node, XEP-0077) tells the modules and the
    // router, which cache per-account state.
    let userDeleted: (local: string) => void = () => {};
    const users = withDeletionHook(createUserStore(db.sql), (local) => userDeleted(local));
    const tokens = createApiTokenStore(db.sql);
    const generatedAdminToken = await ensureAdminToken(config, tokens);
    const consoleAccounts = createConsoleAccountStore(db.sql);
    const consoleSessions = createConsoleSessionStore(db.sql, { idleMs: CONSOLE_IDLE_MS, absoluteMs: CONSOLE_SESSION_MS });
    // Who read which messages and who decided what: every content-showing route records here first.
    const accessLog = createAccessLogStore(db.sql);
    // Exports this node's previous process was streaming when it ended are over: say so before
    // serving new ones (their manifests would otherwise say 'running' for ever).
    const interrupted = await failInterruptedExports(db.sql, accessLog, config.nodeId);
    if (interrupted.length > 0) log.warn('exports left running by the previous process marked failed (interrupted)', { exports: interrupted });
    const sealedLate = await sealUnloggedExportEnds(db.sql, accessLog);
    if (sealedLate.length > 0) log.warn('exports whose end could not be logged are sealed in the access log now', { exports: sealedLate });
    // The exports this server streams: a limit on how many at once, and what stop() waits for.
    const exportsLive = new LiveExports();
    const tls = await loadTlsCredentials({ certPath: config.tlsCert, keyPath: config.tlsKey, dataDir: config.dataDir, domain: config.domain, log });

    const sessions = new SessionRegistry<C2SSession>();
    const modules = new ModuleHost(config.domain, log);
    const rules = createRuleStore(db.sql);
    const policy = await PolicyManager.start(rules, config.domain, log);
    cleanups.push(() => policy.stop());
    const decisions = { encryptedAction: config.encryptedMessages };
    // One set of counters for /metrics, handed to each part that counts (no global).
    const metrics = new WardenMetrics();
    /** Set when stop() begins: /readyz answers 503 from then on, so load balancers drain this node. */
    let shuttingDown = false;
    // The audit pipeline is wired into the router, not loaded as a module: nothing can skip it.
    // Alerts need the router, which needs the pipeline: the pipeline calls through a late-bound hook.
    let incidentOpened: (id: string) => void = () => {};
    const audit = await createAuditPipeline({
      sql: db.sql,
      domain: config.domain,
      log,
      chain: config.nodeId,
      policy,
      decisions,
      incidentOpened: (id) => incidentOpened(id),
      metrics,
    });
    cleanups.push(() => audit.close());
    const router = new Router({
      domain: config.domain,
      metrics,
      sessions,
      modules,
      audit,
      accountExists: (local) => users.exists(local),
      log,
    });
    // Held messages and officer notices are delivered without a second pass through inspect():
    // a held message was archived when it was held, and notices are the server's own words.
    const deliverAudited = (stanza: Element, to: Jid) => router.deliverMessage(stanza, to);
    const incidents = createIncidentStore(db.sql);
    const held = createHeldMessages({ sql: db.sql, domain: config.domain, deliver: deliverAudited, sessions, log, store: incidents });
    const alerts = createAlerts({
      sql: db.sql,
      domain: config.domain,
      officerJids: config.officerJids,
      webhookUrl: config.webhookUrl,
      webhookSecret: config.webhookSecret,
      send: deliverAudited,
      log,
      store: incidents,
      accessLog,
    });
    incidentOpened = (id) => void alerts.notify(id);
    alerts.start();
    cleanups.push(() => alerts.stop());
    const scanner = new RetroScanner({ sql: db.sql, log });
    scanner.start();
    cleanups.push(() => scanner.stop());
    const indexer = new SearchIndexer(db.sql, log);
    indexer.start();
    cleanups.push(() => indexer.stop());
    // RETENTION_DAYS=0 keeps the archive for ever: no job at all. Every node runs one; a per-batch
    // advisory lock makes the others stand aside (audit/retention.ts).
    let retention: RetentionJob | undefined;
    if (config.retentionDays > 0) {
      retention = new RetentionJob({ sql: db.sql, log, accessLog, retentionDays: config.retentionDays, intervalMs: config.retentionIntervalMs });
      retention.start();
      const job = retention;
      cleanups.push(() => job.stop());
    }
    userDeleted = (local) => {
      router.forgetAccount(local);
      modules.emit('user-deleted', { local });
    };
    for (const module of coreModules({ config, db, users, router, sessions, modules })) modules.load(module);

    /** Every stream, bound or not, so shutdown can end each with <system-shutdown/>. */
    const open = new Set<C2SSession>();
    const throttle = new LoginThrottle({ maxFailures: config.loginMaxFailures });
    const c2sContext: C2SContext = {
      domain: config.domain,
      requireTls: config.requireTls,
      tlsAvailable: true,
      maxStanzaBytes: config.maxStanzaBytes,
      authTimeoutMs: config.authTimeoutMs,
      maxAuthAttemptsPerStream: 3,
      log,
      lookupCredential: (username, hash) => users.credential(username, hash),
      throttle,
      sessions,
      boundFeatures: () => modules.boundStreamFeatures(),
      route: (session, stanza) => router.fromClient(session, stanza),
      sessionBound: (session) => modules.emit('session-bound', { session }),
      sessionClosed: (session) => modules.emit('session-closed', { session }),
      streamClosed: (session) => open.delete(session),
      ...(config.registrationEnabled ? { preAuthRegister: preAuthRegistration({ users, deriveCredentials }) } : {}),
    };
    const onTransport = (transport: Transport) => {
      open.add(new C2SSession(transport, c2sContext));
    };

    const directory = sessionDirectory(sessions, config.domain);
    const apiDeps: ApiDeps = {
      domain: config.domain,
      users,
      auth: createAuthenticator(tokens, consoleSessions),
      sessions: directory,
      normalizeLocalpart,
      deriveCredentials,
    };

    // Listeners last: nothing is accepted before every part above is ready.
    const c2s = await listenC2S({
      host: config.bindHost,
      port: config.c2sPort,
      directTls: false,
      secureContext: tls.context,
      pem: tls,
      rateBytesPerSecond: config.c2sRateBytes,
      handshakeTimeoutMs: config.authTimeoutMs,
      onTransport,
    });
    cleanups.push(() => closeNetServer(c2s));
    const c2sTls = await listenC2S({
      host: config.bindHost,
      port: config.c2sTlsPort,
      directTls: true,
      secureContext: tls.context,
      pem: tls,
      rateBytesPerSecond: config.c2sRateBytes,
      handshakeTimeoutMs: config.authTimeoutMs,
      onTransport,
    });
    cleanups.push(() => closeNetServer(c2sTls));
    const webSocketOptions = {
      trustedProxies: config.trustedProxies,
      allowedOrigins: config.allowedOrigins,
      maxFrameBytes: config.maxStanzaBytes,
      rateBytesPerSecond: config.c2sRateBytes,
      onTransport,
    };
    // Passwords, tokens and cookies only over TLS or loopback (C2S_REQUIRE_TLS); one count of
    // invalid tokens per address for both the HTTP and the HTTPS app.
    const credentials: CredentialPolicy = {
      requireTls: config.requireTls,
      ...(config.httpsPort === 0 ? {} : { httpsPort: config.httpsPort }),
      tokenThrottle: new LoginThrottle({ maxFailures: INVALID_TOKENS_PER_MINUTE }),
    };
    const resources: ApiResource[] = [
      {
        prefix: '/v1/auth',
        plugin: loginRoutes({ accounts: consoleAccounts, sessions: consoleSessions, accessLog, throttle: new LoginThrottle({ maxFailures: config.loginMaxFailures }), credentials, log }),
      },
      { prefix: '/v1/accounts', plugin: accountsRoutes({ accounts: consoleAccounts, tokens, accessLog }) },
      { prefix: '/v1/tokens', plugin: tokensRoutes({ tokens, accounts: consoleAccounts, accessLog, log }) },
      { prefix: '/v1/access-log', plugin: accessLogRoutes({ store: accessLog, log }) },
      { prefix: '/v1/rules', plugin: rulesRoutes({ rules, policy, normalizeLocalpart }) },
      { prefix: '/v1/groups', plugin: groupsRoutes({ rules, policy, normalizeLocalpart }) },
      { prefix: '/v1/audit', plugin: auditScanRoutes({ domain: config.domain, policy, decisions }) },
      { prefix: '/v1/incidents', plugin: incidentsRoutes({ store: incidents, held, accessLog, log }) },
      { prefix: '/v1/rules/stats', plugin: ruleStatsRoutes({ store: incidents }) },
      { prefix: '/v1/messages', plugin: messagesRoutes({ sql: db.sql, domain: config.domain, accessLog, log }) },
      { prefix: '/v1/conversations', plugin: conversationsRoutes({ sql: db.sql, domain: config.domain, accessLog, log }) },
      {
        prefix: '/v1/export',
        plugin: exportRoutes({ sql: db.sql, domain: config.domain, accessLog, log, live: exportsLive, node: config.nodeId, maxMessageBytes: config.maxStanzaBytes }),
      },
      { prefix: '/v1/exports', plugin: exportManifestRoutes({ sql: db.sql }) },
      { prefix: '/v1/archive', plugin: archiveRoutes({ sql: db.sql, accessLog, log }) },
      { prefix: '/v1/retro-scans', plugin: retroScansRoutes({ sql: db.sql, accessLog, log, onQueued: () => scanner.wake() }) },
      { prefix: '/v1/legal-holds', plugin: legalHoldsRoutes({ holds: createLegalHoldStore(db.sql), domain: config.domain, accessLog, log }) },
    ];
    // /readyz and /metrics (both apps share them). The listeners are bound below, so readiness
    // reads them through a late-bound list: empty until then, which is never asked for.
    let listeners: ReadonlyArray<readonly [string, { readonly listening: boolean }]> = [];
    const httpMetrics = new HttpMetrics();
    const operations = {
      readiness: readinessProbe({
        database: () => db.sql`SELECT 1`,
        listenersDown: () => listeners.filter(([, server]) => !server.listening).map(([name]) => name),
        stopping: () => shuttingDown,
      }),
      metrics: createMetricsEndpoint({
        metrics,
        http: httpMetrics,
        connections: () => countByTransport(open),
        boundSessions: () => sessions.size,
        archiveQueueDepth: () => audit.writer.queued,
        archiveHealthy: () => audit.writer.healthy,
        openIncidents: cachedOpenIncidents(() => queryOpenIncidents(db.sql), { log }),
      }),
      http: httpMetrics,
    };
    const http = await buildApiApp(apiDeps, { trustProxy: [...config.trustedProxies], log, resources, operations, credentials });
    await registerXmppWebSocket(http, { ...webSocketOptions, tls: false });
    cleanups.push(() => http.close());
    await http.listen({ host: config.bindHost, port: config.httpPort });
    const https = await buildApiApp(apiDeps, { trustProxy: [...config.trustedProxies], log, resources, operations, credentials, https: { cert: tls.cert, key: tls.key } });
    await registerXmppWebSocket(https, { ...webSocketOptions, tls: true });
    cleanups.push(() => https.close());
    await https.listen({ host: config.bindHost, port: config.httpsPort });

    listeners = [['c2s', c2s], ['c2sTls', c2sTls], ['http', http.server], ['https', https.server]];
    const ports = { c2s: portOf(c2s), c2sTls: portOf(c2sTls), http: httpPort(http), https: httpPort(https) };
    log.info(`Warden serving ${config.domain}`, { ...ports, database: db.embedded ? 'embedded' : 'postgresql' });

    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        shuttingDown = true;
        log.info('shutting down');
        // Stop accepting first, then end every stream, then flush storage.
        const closeListeners = [closeNetServer(c2s), closeNetServer(c2sTls)];
        for (const session of open) session.fail(streamError('system-shutdown', 'The server is shutting down'));
        await Promise.allSettled(closeListeners);
        await modules.stop();
        // Exports cut from here on failed because of the shutdown (their manifests say so).
        exportsLive.stopping = true;
        await closeHttp([http, https], HTTP_DRAIN_MS);
        // A cut export records its end (manifest, access log) asynchronously: let it, before the
        // database closes under it.
        const unsettled = await exportsLive.settle(EXPORT_SETTLE_MS);
        if (unsettled > 0) log.error('exports still recording their end at shutdown; the next start marks them interrupted', { exports: unsettled });
        await audit.close();
        await Promise.allSettled([alerts.stop(), scanner.stop(), indexer.stop(), retention?.stop()]);
        policy.stop();
        if (!opts.database) await db.close();
        log.info('stopped');
      })());
    return { config, db, sessions, router, audit, policy, ports, generatedAdminToken, metrics, http, stop };
  } catch (err) {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
    if (!opts.database) await db.close().catch(() => {});
    throw err;
  }
}

function withDeletionHook(store: UserStore, deleted: (local: string) => void): UserStore {
  return {
    ...store,
    delete: async (username) => {
      const existed = await store.delete(username);
      if (existed) deleted(username);
      return existed;
    },
  };
}

async function ensureAdminToken(config: Config, store: ApiTokenStore): Promise<string | undefined> {
  if (config.adminToken) {
    if (!(await store.verify(config.adminToken))) await store.add(config.adminToken, 'ADMIN_TOKEN');
    return undefined;
  }
  if ((await store.count()) > 0) return undefined;
  const token = generateToken();
  await store.add(token, 'generated at first start');
  return token;
}

function sessionDirectory(sessions: SessionRegistry<C2SSession>, domain: string): SessionDirectory {
  return {
    list: () =>
      [...sessions.all()].map((s) => ({
        jid: s.fullJid,
        ip: s.transport.remoteAddress,
        transport: s.transport.kind,
        secure: s.transport.secure,
        since: s.since,
      })),
    kick: (fullJid, text) => {
      // RFC 7622 normalisation, as when the session bound; a JID of another domain is no session here.
      const jid = parseJid(fullJid);
      if (isJidError(jid) || jid.domain !== domain || jid.resource === '') return false;
      const session = sessions.get(jid.local, jid.resource);
      if (!session) return false;
      session.fail(streamError('policy-violation', text ?? 'Disconnected by an administrator'));
      return true;
    },
    kickUser: (local, text) => {
      const targets = [...sessions.resourcesOf(local)];
      for (const s of targets) s.fail(streamError('not-authorized', text ?? 'Account changed'));
      return targets.length;
    },
  };
}

function portOf(server: net.Server): number {
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

function httpPort(app: FastifyInstance): number {
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

/** How long stop() lets HTTP requests in flight (an export download, say) finish before cutting them. */
const HTTP_DRAIN_MS = 3000;
/** How long stop() then waits for cut exports to write their manifests before closing the database. */
const EXPORT_SETTLE_MS = 5000;

/**
 * Closes fastify apps: idle keep-alive connections at once, requests in flight after `drainMs`.
 * fastify's close() alone waits for every active connection, so one client that stops reading a
 * streamed export (backpressure) would hold the shutdown for ever.
 */
async function closeHttp(apps: readonly FastifyInstance[], drainMs: number): Promise<void> {
  const closed = Promise.allSettled(apps.map((app) => app.close()));
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([closed.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), drainMs)))]);
  clearTimeout(timer);
  if (!drained) {
    for (const app of apps) app.server.closeAllConnections();
    await closed;
  }
}

function closeNetServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
