// The `warden` CLI driven in-process through runCli, against real databases:
// - openTestDatabase(): with DATABASE_URL a fresh PostgreSQL database (the CLI gets its URL);
//   without, an embedded store this test process is serving — exactly "the server is running on
//   the embedded store", so the CLI must reach it through the socket in DATA_DIR;
// - a fresh embedded DATA_DIR nobody holds, which the CLI opens itself.
import { createConsoleAccountStore } from '../accounts/account-store.ts';
import { createConsoleSessionStore } from '../accounts/session-store.ts';
import { verifyPassword } from '../accounts/password-hash.ts';
import { PassThrough, Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, removeTestDataDir, testDataDir, type TestDatabase } from '../../test/support/database.ts';
import { silentLogger } from '../log.ts';
import { createApiTokenStore } from '../storage/api-token-store.ts';
import { lockDataDir } from '../storage/embedded.ts';
import { createUserStore } from '../storage/user-store.ts';
import { EXIT_ERROR, EXIT_OK, EXIT_USAGE, runCli, type CliIo } from './main.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function sink(onWrite?: (text: string) => void): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      const s = chunk.toString();
      text += s;
      onWrite?.(s);
      cb();
    },
  });
  return { stream, text: () => text };
}

async function run(env: CliIo['env'], argv: string[], stdinText = ''): Promise<Run> {
  const out = sink();
  const err = sink();
  const code = await runCli(argv, { stdin: Readable.from([stdinText]), stdout: out.stream, stderr: err.stream, env });
  return { code, stdout: out.text(), stderr: err.text() };
}

/** The account and token commands, as an operator would use them, on whatever database `env` names. */
function accountLifecycle(getEnv: () => CliIo['env'], getDb: () => TestDatabase | undefined) {
  it('adds a user with the password from stdin', async () => {
    const r = await run(getEnv(), ['user', 'add', 'Alice', '--password-stdin'], 'first secret\n');
    expect(r).toMatchObject({ code: EXIT_OK, stderr: '' });
    expect(r.stdout).toMatch(/created user alice \(alice@/);
  });

  it('refuses to add the same (normalised) user twice with exit code 1', async () => {
    const r = await run(getEnv(), ['user', 'add', 'ALICE'], 'x\n');
    expect(r.code).toBe(EXIT_ERROR);
    expect(r.stderr).toBe('warden: user alice already exists\n');
  });

  it('adds a console account with a role, lists it, refuses a short password and deletes it', async () => {
    const added = await run(getEnv(), ['account', 'add', 'olivia', '--role', 'officer', '--password-stdin'], 'a long enough secret\n');
    expect(added).toMatchObject({ code: EXIT_OK, stdout: 'created console account olivia (officer)\n' });
    const db = getDb();
    if (db) {
      const stored = await createConsoleAccountStore(db.sql).passwordHash('olivia');
      expect(stored?.role).toBe('officer');
      expect(await verifyPassword('a long enough secret', stored!.passwordHash)).toBe(true);
    }
    expect((await run(getEnv(), ['account', 'add', 'olivia', '--role', 'officer', '--password-stdin'], 'another secret!!\n')).code).toBe(EXIT_ERROR);
    expect((await run(getEnv(), ['account', 'add', 'short', '--role', 'auditor', '--password-stdin'], 'short\n')).stderr).toMatch(/at least 10 characters/);
    expect((await run(getEnv(), ['account', 'add', 'x', '--role', 'boss', '--password-stdin'], 'a long enough secret\n')).code).toBe(EXIT_USAGE);
    expect((await run(getEnv(), ['account', 'list'])).stdout).toMatch(/^olivia\tofficer\t\d{4}-/m);
    expect(await run(getEnv(), ['account', 'delete', 'olivia'])).toMatchObject({ code: EXIT_OK, stdout: 'deleted console account olivia\n' });
    expect((await run(getEnv(), ['account', 'delete', 'olivia'])).code).toBe(EXIT_ERROR);
  });

  it('refuses a console password longer than the login form accepts (1024 characters)', async () => {
    const r = await run(getEnv(), ['account', 'add', 'longpw', '--role', 'auditor', '--password-stdin'], `${'x'.repeat(1025)}\n`);
    expect(r.code).toBe(EXIT_ERROR);
    expect(r.stderr).toMatch(/at most 1024 characters/);
  });

  it('records account add, passwd and delete and token create in the access log as cli:<os user>', async () => {
    expect((await run(getEnv(), ['account', 'add', 'cli-admin', '--role', 'admin', '--password-stdin'], 'first admin secret\n')).code).toBe(EXIT_OK);
    expect((await run(getEnv(), ['account', 'add', 'cli-officer', '--role', 'officer', '--password-stdin'], 'first officer secret\n')).code).toBe(EXIT_OK);
    const db = getDb();
    const sessions = db && createConsoleSessionStore(db.sql, { idleMs: 60_000, absoluteMs: 60_000 });
    const session = await sessions?.create('cli-officer', 'officer', '127.0.0.1');
    const passwd = await run(getEnv(), ['account', 'passwd', 'cli-officer', '--password-stdin'], 'second officer secret\n');
    expect(passwd).toMatchObject({ code: EXIT_OK, stdout: 'changed the password of console account cli-officer (its console sessions ended)\n' });
    if (db && session) {
      expect(await sessions?.lookup(session.cookie)).toBeUndefined();
      expect(await verifyPassword('second officer secret', (await createConsoleAccountStore(db.sql).passwordHash('cli-officer'))!.passwordHash)).toBe(true);
    }
    expect((await run(getEnv(), ['account', 'passwd', 'nobody-at-all', '--password-stdin'], 'some long secret\n')).code).toBe(EXIT_ERROR);
    expect((await run(getEnv(), ['account', 'passwd', 'cli-officer', '--password-stdin'], 'short\n')).stderr).toMatch(/at least 10 characters/);
    const token = await run(getEnv(), ['token', 'create', '--label', 'audited']);
    expect(token.code).toBe(EXIT_OK);
    expect((await run(getEnv(), ['account', 'delete', 'cli-officer'])).code).toBe(EXIT_OK);
    if (db) {
      const stored = await createConsoleAccountStore(db.sql).passwordHash('cli-officer');
      expect(stored).toBeUndefined();
      const entries = await db.sql<{ actor: string; action: string; query: Record<string, unknown> }[]>`
        SELECT actor, action, query FROM access_log WHERE actor LIKE 'cli:%' ORDER BY seq`;
      const actions = entries.map((e) => [e.action, e.query.username ?? e.query.label]);
      expect(actions).toEqual(
        expect.arrayContaining([
          ['account.create', 'cli-admin'],
          ['account.create', 'cli-officer'],
          ['account.password', 'cli-officer'],
          ['token.create', 'audited'],
          ['account.delete', 'cli-officer'],
        ]),
      );
      expect(entries.every((e) => /^cli:.+/.test(e.actor))).toBe(true);
      const [tokenRow] = await db.sql<{ created_by: string }[]>`SELECT created_by FROM admin_tokens WHERE label = 'audited'`;
      expect(tokenRow?.created_by).toMatch(/^cli:/);
    }
  });

  it('stores no admin token the access log cannot record', async () => {
    const db = getDb();
    if (db === undefined) return;
    await db.sql.unsafe(`CREATE FUNCTION access_log_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'down (test)'; END $$`);
    await db.sql`CREATE TRIGGER access_log_down BEFORE INSERT ON access_log FOR EACH STATEMENT EXECUTE FUNCTION access_log_down()`;
    try {
      const r = await run(getEnv(), ['token', 'create', '--label', 'unlogged']);
      expect(r.code).toBe(EXIT_ERROR);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/access log could not record the new token, so it was not kept \(down \(test\)\)/);
    } finally {
      await db.sql`DROP TRIGGER access_log_down ON access_log`;
      await db.sql`DROP FUNCTION access_log_down()`;
    }
    expect(await db.sql`SELECT 1 FROM admin_tokens WHERE label = 'unlogged'`).toHaveLength(0);
    expect(await db.sql`SELECT 1 FROM revoked_bootstrap_tokens`).toHaveLength(0);
  });

  it('refuses to delete the last administrator account', async () => {
    const admins = (await run(getEnv(), ['account', 'list'])).stdout.split('\n').filter((l) => l.split('\t')[1] === 'admin').map((l) => l.split('\t')[0]);
    expect(admins).toEqual(['cli-admin']);
    const r = await run(getEnv(), ['account', 'delete', 'cli-admin']);
    expect(r.code).toBe(EXIT_ERROR);
    expect(r.stderr).toMatch(/last administrator/);
  });

  it('lists the user', async () => {
    const r = await run(getEnv(), ['user', 'list']);
    expect(r.code).toBe(EXIT_OK);
    expect(r.stdout).toMatch(/^alice\t\d{4}-\d\d-\d\dT/m);
  });

  it('changes the password', async () => {
    const db = getDb();
    const before = db && (await createUserStore(db.sql).credential('alice', 'SHA-256'));
    const r = await run(getEnv(), ['user', 'passwd', 'alice'], 'second secret\n');
    expect(r).toMatchObject({ code: EXIT_OK, stdout: 'changed the password of alice\n' });
    if (db) {
      const cred = await createUserStore(db.sql).credential('alice', 'SHA-256');
      expect(before).toBeDefined();
      expect(cred?.storedKey.equals(before!.storedKey)).toBe(false);
    }
  });

  it('creates an admin token that the token store accepts', async () => {
    const r = await run(getEnv(), ['token', 'create', '--label', 'ci']);
    expect(r.code).toBe(EXIT_OK);
    const token = r.stdout.trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const db = getDb();
    if (db) expect(await createApiTokenStore(db.sql, { cacheMs: 0 }).verify(token)).toBe(true);
  });

  it('deletes the user, then reports it missing', async () => {
    expect(await run(getEnv(), ['user', 'delete', 'alice'])).toMatchObject({ code: EXIT_OK, stdout: 'deleted user alice\n' });
    const again = await run(getEnv(), ['user', 'delete', 'alice']);
    expect(again).toMatchObject({ code: EXIT_ERROR, stderr: 'warden: user alice does not exist\n' });
    expect((await run(getEnv(), ['user', 'list'])).stdout).toBe('');
  });
}

describe('warden CLI on the test database', () => {
  let db: TestDatabase | undefined;
  let env: CliIo['env'] = {};
  let skipReason: string | undefined;

  beforeAll(async () => {
    db = await openTestDatabase({ log: silentLogger });
    if (db.url !== undefined) env = { DATABASE_URL: db.url };
    else if (db.dataDir !== undefined) env = { DATA_DIR: db.dataDir };
    else skipReason = 'the test database exposes neither a URL nor its DATA_DIR';
  });
  afterAll(async () => {
    await db?.close();
  });

  it('has a database the CLI can reach', ({ skip }) => {
    if (skipReason !== undefined) skip(skipReason);
    expect(Object.keys(env)).toHaveLength(1);
  });

  accountLifecycle(() => env, () => db);

  it('applies no migration twice', async () => {
    expect(await run(env, ['migrate'])).toMatchObject({ code: EXIT_OK, stdout: 'the database is up to date\n' });
  });
});

describe('warden CLI on an embedded store no server holds', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await testDataDir({ initialised: true });
  });
  afterAll(async () => {
    await removeTestDataDir(dataDir);
  });

  it('migrates a new store', async () => {
    const r = await run({ DATA_DIR: dataDir }, ['migrate']);
    expect(r.code).toBe(EXIT_OK);
    expect(r.stdout).toMatch(/^applied 0001_accounts$/m);
  });

  accountLifecycle(() => ({ DATA_DIR: dataDir }), () => undefined);
});

describe('warden CLI errors', () => {
  it.each([
    [[]],
    [['frob']],
    [['user']],
    [['user', 'rename', 'a']],
    [['user', 'add']],
    [['user', 'add', 'a', 'b']],
    [['user', 'add', 'a', '--nope']],
    [['user', 'list', 'extra']],
    [['token']],
    [['token', 'create', '--label']],
    [['migrate', 'now']],
  ])('answers bad usage %j with exit code 2 before touching the database', async (argv) => {
    // No database configured at all: usage errors must not need one.
    const r = await run({ DATA_DIR: '/nonexistent/warden' }, argv);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/warden|Usage/);
  });

  it('prints help on stdout with exit code 0', async () => {
    const r = await run({}, ['help']);
    expect(r.code).toBe(EXIT_OK);
    expect(r.stdout).toContain('user add <name>');
  });

  it.each(['a b', 'a@b', ''])('refuses the invalid user name %j with exit code 1', async (name) => {
    const r = await run({ DATA_DIR: '/nonexistent/warden' }, ['user', 'add', name], 'pw\n');
    expect(r.code).toBe(EXIT_ERROR);
    expect(r.stderr).toMatch(/^warden: .* is not a valid user name/);
  });

  it('names the variable of a bad configuration', async () => {
    const r = await run({ DATABASE_URL: 'mysql://x' }, ['user', 'list']);
    expect(r.code).toBe(EXIT_ERROR);
    expect(r.stderr).toMatch(/^warden: configuration: DATABASE_URL: /);
  });

  it('says how to proceed when a server holds the embedded store without a socket to reach', async () => {
    const dataDir = await testDataDir();
    const release = lockDataDir(dataDir, silentLogger);
    try {
      const r = await run({ DATA_DIR: dataDir }, ['user', 'list']);
      expect(r.code).toBe(EXIT_ERROR);
      expect(r.stderr).toContain('the server is running on the embedded store');
      expect(r.stderr).toContain('stop it or use the admin API');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      release();
      await removeTestDataDir(dataDir);
    }
  });
});

describe('warden CLI password prompt', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await testDataDir({ initialised: true });
  });
  afterAll(async () => {
    await removeTestDataDir(dataDir);
  });

  /** A fake terminal: answers each prompt as it appears. */
  async function prompted(answers: string[]): Promise<Run> {
    const stdin = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => stdin });
    const out = sink();
    const err = sink((text) => {
      if (text.includes('Password')) {
        const answer = answers.shift();
        if (answer !== undefined) setImmediate(() => stdin.write(answer + '\r'));
      }
    });
    const code = await runCli(['user', 'add', 'carol'], { stdin, stdout: out.stream, stderr: err.stream, env: { DATA_DIR: dataDir } });
    return { code, stdout: out.text(), stderr: err.text() };
  }

  it('refuses two different answers', async () => {
    const r = await prompted(['one secret', 'another secret']);
    expect(r.code).toBe(EXIT_ERROR);
    expect(r.stderr).toContain('warden: the passwords do not match');
    expect(r.stderr).not.toContain('secret');
  });

  it('asks twice without echoing the password', async () => {
    const r = await prompted(['hidden words', 'hidden words']);
    expect(r.code).toBe(EXIT_OK);
    expect(r.stderr).toContain('Password: ');
    expect(r.stderr).toContain('Password (again): ');
    expect(r.stderr).not.toContain('hidden');
  });

  it('fails when stdin ends without a password', async () => {
    const r = await run({ DATA_DIR: dataDir }, ['user', 'add', 'dave', '--password-stdin'], '');
    expect(r).toMatchObject({ code: EXIT_ERROR, stderr: 'warden: no password on stdin (expected one line)\n' });
  });
});
