// A real Warden for tests: real sockets on free ports (never the defaults), real TLS with the
// generated certificate, a fresh database (real PostgreSQL with DATABASE_URL, else embedded).
import { deriveCredentials } from '../../src/auth/scram.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { silentLogger, createLogger } from '../../src/log.ts';
import { startServer, type WardenServer } from '../../src/server.ts';
import { createUserStore } from '../../src/storage/user-store.ts';
import { createConsoleAccountStore } from '../../src/accounts/account-store.ts';
import { hashPassword } from '../../src/accounts/password-hash.ts';
import type { Role } from '../../src/api/principal.ts';
import { createApiTokenStore } from '../../src/storage/api-token-store.ts';
import { openTestDatabase, removeTestDataDir, testDataDir, type TestDatabase } from './database.ts';

export interface TestServer {
  readonly server: WardenServer;
  readonly config: Config;
  readonly db: TestDatabase;
  readonly adminToken: string;
  /** Bearer tokens of console accounts made at start: `officer` and `auditor` (passwords in TEST_CONSOLE_PASSWORD). */
  readonly tokens: Readonly<Record<Role, string>>;
  addUser(username: string, password: string): Promise<void>;
  close(): Promise<void>;
}

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const TEST_OFFICER_TOKEN = 'test-officer-token-0123456789abcdef';
export const TEST_AUDITOR_TOKEN = 'test-auditor-token-0123456789abcdef';
export const TEST_CONSOLE_PASSWORD = 'correct horse battery staple';
// Cheap scrypt parameters for the test accounts (their hashes say so; verify reads them back).
const TEST_SCRYPT = { N: 1024, r: 8, p: 1 };

export async function startTestServer(env: Record<string, string> = {}, opts: { database?: TestDatabase } = {}): Promise<TestServer> {
  const dataDir = await testDataDir();
  const db = opts.database ?? (await openTestDatabase());
  const config = loadConfig({
    XMPP_DOMAIN: 'localhost',
    BIND_HOST: '127.0.0.1',
    C2S_PORT: '0',
    C2S_TLS_PORT: '0',
    HTTP_PORT: '0',
    HTTPS_PORT: '0',
    DATA_DIR: dataDir,
    ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    LOG_LEVEL: 'error',
    ...env,
  });
  const log = process.env.WARDEN_TEST_LOG ? createLogger('debug') : silentLogger;
  const server = await startServer(config, { database: db, log });
  const users = createUserStore(db.sql);
  const accounts = createConsoleAccountStore(db.sql);
  const apiTokens = createApiTokenStore(db.sql);
  for (const [username, role, token] of [['officer', 'officer', TEST_OFFICER_TOKEN], ['auditor', 'auditor', TEST_AUDITOR_TOKEN]] as const) {
    // Idempotent: a test may restart a server on the same database.
    if (await accounts.create({ username, role, passwordHash: await hashPassword(TEST_CONSOLE_PASSWORD, TEST_SCRYPT), createdBy: 'test' })) {
      await apiTokens.add(token, 'test', { account: username });
    }
  }
  return {
    server,
    config,
    db,
    adminToken: TEST_ADMIN_TOKEN,
    tokens: { admin: TEST_ADMIN_TOKEN, officer: TEST_OFFICER_TOKEN, auditor: TEST_AUDITOR_TOKEN },
    addUser: async (username, password) => {
      if (!(await users.create(username, deriveCredentials(password)))) throw new Error(`user ${username} exists`);
    },
    close: async () => {
      await server.stop();
      await db.close();
      await removeTestDataDir(dataDir);
    },
  };
}
