// The `warden` command line: account and token administration straight on the database, for
// when the admin API is not reachable yet (the first admin token) or not wanted (scripts).
// It reads the same configuration as the server. Exit codes: 0 ok, 1 error (one line on
// stderr), 2 usage, 3 `archive verify` found a broken chain.
//
// The embedded store: a running server holds DATA_DIR's lock, so the CLI cannot open the
// PGlite files itself. The server serves PGlite on a unix socket inside DATA_DIR, and the CLI
// then talks to that running instance over it; only when there is no socket to reach (the
// loopback-TCP fallback for very long DATA_DIR paths, or another host) does it give up.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as readline from 'node:readline';
import { Writable } from 'node:stream';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import postgres from 'postgres';
import { verifyArchive } from '../audit/archive-verify.ts';
import { SaslPrepError, deriveCredentials } from '../auth/scram.ts';
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { createLogger, type Logger } from '../log.ts';
import { normalizeLocalpart } from '../stanza/jid.ts';
import { createApiTokenStore, generateToken } from '../storage/api-token-store.ts';
import { CONSOLE_USERNAME, createConsoleAccountStore } from '../accounts/account-store.ts';
import { hashPassword, newPasswordProblem } from '../accounts/password-hash.ts';
import type { Principal } from '../api/principal.ts';
import { createAccessLogStore } from '../audit/access-log.ts';
import type { AccessAction, AccessEntry } from '../audit/access-log.types.ts';
import { openDatabase } from '../storage/database.ts';
import type { Database } from '../storage/database.types.ts';
import { DataDirInUseError, SOCKET_FILE } from '../storage/embedded.ts';
import { defaultMigrationsDir, migrate } from '../storage/migrate.ts';
import { createUserStore } from '../storage/user-store.ts';

/** The process's standard streams and environment, handed in so tests can drive the CLI in-process. */
export interface CliIo {
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
/** `archive verify`: a hash chain of the archive is broken. */
export const EXIT_ARCHIVE_BROKEN = 3;

/** The same bound as the admin API (routes/users.ts). */
const MAX_PASSWORD_CHARS = 1024;
const MAX_LABEL_CHARS = 200;

const USAGE = `Usage: warden <command>

  user add <name> [--password-stdin]      create a chat account (asks for the password)
  user passwd <name> [--password-stdin]   set a new password
  user delete <name>                      delete an account
  user list                               list accounts (name, creation time)
  account add <name> --role <r> [--password-stdin]
                                          create a console account (role admin, officer
                                          or auditor) for the web console and API
  account list                            list console accounts (name, role, creation time)
  account passwd <name> [--password-stdin]
                                          set a console account's password (its console
                                          sessions end)
  account delete <name>                   delete a console account (its sessions and tokens
                                          end); never the last administrator
  token create [--label <text>]           create an admin API token; it is printed once
  archive verify [--chain <name> [--expect <seq>:<hash>]]
                                          check the archive's hash chains (and a head noted earlier); exit 3 when broken
  migrate                                 apply pending database migrations
  help                                    show this text

The password is read from stdin (one line) with --password-stdin or when stdin is not a
terminal; otherwise it is asked for twice without echo.

Configuration comes from the same environment variables (or WARDEN_CONFIG file) as the
server. With the embedded store and the server running, the CLI uses the server's database
through its socket in DATA_DIR. Sessions already open on a running server are not ended by
"user delete" or "user passwd" here; the admin API (DELETE /api/v1/users/<name>) ends them.

"account" and "token" commands are written to the access log as done by cli:<os user>.
`;

/** An error whose message is the whole story: printed as one line, exit code 1. */
class CliError extends Error {
  override readonly name = 'CliError';
}

/** Wrong command line: printed with a pointer to `warden help`, exit code 2. */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`warden: ${err.message}\nRun "warden help" for usage.\n`);
      return EXIT_USAGE;
    }
    const message =
      err instanceof CliError ? err.message
      : err instanceof ConfigError ? `configuration: ${err.message}`
      : err instanceof Error ? err.message
      : String(err);
    io.stderr.write(`warden: ${oneLine(message)}\n`);
    return EXIT_ERROR;
  }
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: readonly string[], options: O, positionals: readonly string[]) {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (parsed.positionals.length !== positionals.length) {
    const want = positionals.length === 0 ? 'no arguments' : positionals.map((p) => `<${p}>`).join(' ');
    throw new UsageError(`expected ${want}, got ${parsed.positionals.length === 0 ? 'none' : parsed.positionals.join(' ')}`);
  }
  return parsed;
}

async function dispatch(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, sub, ...rest] = argv;
  if (command === undefined) {
    io.stderr.write(USAGE);
    return EXIT_USAGE;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    io.stdout.write(USAGE);
    return EXIT_OK;
  }
  const out = (line: string) => io.stdout.write(line + '\n');

  switch (command) {
    case 'user': {
      const args = rest;
      switch (sub) {
        case 'add': {
          const { values, positionals } = parse(args, { 'password-stdin': { type: 'boolean' } }, ['name']);
          const username = checkUsername(positionals[0] ?? '');
          return withDatabase(io, async (db, config) => {
            const users = createUserStore(db.sql);
            // Fail before asking for a password that could not be used.
            if (await users.exists(username)) throw new CliError(`user ${username} already exists`);
            const credentials = derive(await readPassword(io, values['password-stdin'] === true));
            if (!(await users.create(username, credentials))) throw new CliError(`user ${username} already exists`);
            out(`created user ${username} (${username}@${config.domain})`);
            return EXIT_OK;
          });
        }
        case 'passwd': {
          const { values, positionals } = parse(args, { 'password-stdin': { type: 'boolean' } }, ['name']);
          const username = checkUsername(positionals[0] ?? '');
          return withDatabase(io, async (db) => {
            const users = createUserStore(db.sql);
            if (!(await users.exists(username))) throw new CliError(`user ${username} does not exist`);
            const credentials = derive(await readPassword(io, values['password-stdin'] === true));
            if (!(await users.setCredentials(username, credentials))) throw new CliError(`user ${username} does not exist`);
            out(`changed the password of ${username}`);
            return EXIT_OK;
          });
        }
        case 'delete': {
          const { positionals } = parse(args, {}, ['name']);
          const username = checkUsername(positionals[0] ?? '');
          return withDatabase(io, async (db) => {
            if (!(await createUserStore(db.sql).delete(username))) throw new CliError(`user ${username} does not exist`);
            out(`deleted user ${username}`);
            return EXIT_OK;
          });
        }
        case 'list': {
          parse(args, {}, []);
          return withDatabase(io, async (db) => {
            const users = createUserStore(db.sql);
            let after: string | undefined;
            for (;;) {
              const page = await users.list(after === undefined ? { limit: 1000 } : { limit: 1000, after });
              for (const u of page) out(`${u.username}\t${u.createdAt.toISOString()}`);
              const last = page[page.length - 1];
              if (last === undefined) break;
              after = last.username;
            }
            return EXIT_OK;
          });
        }
        default:
          throw new UsageError(sub === undefined ? 'user: missing subcommand (add, passwd, delete, list)' : `user: unknown subcommand ${JSON.stringify(sub)}`);
      }
    }
    case 'account': {
      switch (sub) {
        case 'add': {
          const { values, positionals } = parse(rest, { 'password-stdin': { type: 'boolean' }, role: { type: 'string' } }, ['name']);
          const username = positionals[0] ?? '';
          if (!CONSOLE_USERNAME.test(username)) throw new UsageError('account name: 1–64 characters a–z, 0–9, ".", "_" or "-"');
          const role = values.role;
          if (role !== 'admin' && role !== 'officer' && role !== 'auditor') throw new UsageError('--role must be admin, officer or auditor');
          return withDatabase(io, async (db) => {
            const accounts = createConsoleAccountStore(db.sql);
            if ((await accounts.get(username)) !== undefined) throw new CliError(`console account ${username} already exists`);
            const passwordHash = await hashPassword(await readConsolePassword(io, values['password-stdin'] === true));
            const audit = cliAudit(db, io.env);
            if (!(await accounts.create({ username, role, passwordHash, createdBy: audit.actor }, audit.entry('account.create', { username, role })))) {
              throw new CliError(`console account ${username} already exists`);
            }
            out(`created console account ${username} (${role})`);
            return EXIT_OK;
          });
        }
        case 'passwd': {
          const { values, positionals } = parse(rest, { 'password-stdin': { type: 'boolean' } }, ['name']);
          const username = positionals[0] ?? '';
          return withDatabase(io, async (db) => {
            const accounts = createConsoleAccountStore(db.sql);
            if ((await accounts.get(username)) === undefined) throw new CliError(`console account ${username} does not exist`);
            const passwordHash = await hashPassword(await readConsolePassword(io, values['password-stdin'] === true));
            const audit = cliAudit(db, io.env);
            if (!(await accounts.setPassword(username, passwordHash, { also: audit.entry(PASSWORD_CHANGED, { username }) }))) {
              throw new CliError(`console account ${username} does not exist`);
            }
            out(`changed the password of console account ${username} (its console sessions ended)`);
            return EXIT_OK;
          });
        }
        case 'list': {
          parse(rest, {}, []);
          return withDatabase(io, async (db) => {
            const accounts = createConsoleAccountStore(db.sql);
            let after: string | undefined;
            for (;;) {
              const page = await accounts.list(after === undefined ? { limit: 1000 } : { limit: 1000, after });
              for (const a of page) out(`${a.username}\t${a.role}\t${a.createdAt.toISOString()}`);
              const last = page[page.length - 1];
              if (last === undefined) break;
              after = last.username;
            }
            return EXIT_OK;
          });
        }
        case 'delete': {
          const { positionals } = parse(rest, {}, ['name']);
          const username = positionals[0] ?? '';
          return withDatabase(io, async (db) => {
            const result = await createConsoleAccountStore(db.sql).delete(username, cliAudit(db, io.env).entry('account.delete', { username }));
            if (result === 'not-found') throw new CliError(`console account ${username} does not exist`);
            if (result === 'last-admin') throw new CliError(`${username} is the last administrator account; add another administrator first`);
            out(`deleted console account ${username}`);
            return EXIT_OK;
          });
        }
        default:
          throw new UsageError(sub === undefined ? 'account: missing subcommand (add, list, passwd, delete)' : `account: unknown subcommand ${JSON.stringify(sub)}`);
      }
    }
    case 'token': {
      if (sub !== 'create') {
        throw new UsageError(sub === undefined ? 'token: missing subcommand (create)' : `token: unknown subcommand ${JSON.stringify(sub)}`);
      }
      const { values } = parse(rest, { label: { type: 'string' } }, []);
      const label = values.label ?? 'created with warden token create';
      if (label.length === 0 || label.length > MAX_LABEL_CHARS) throw new UsageError(`--label must be 1–${MAX_LABEL_CHARS} characters`);
      return withDatabase(io, async (db) => {
        const token = generateToken();
        const audit = cliAudit(db, io.env);
        const store = createApiTokenStore(db.sql);
        // The token and its access-log entry commit together: an admin token nobody can see in the
        // access log is never stored, let alone handed out.
        let unrecorded: unknown;
        const id = await store
          .add(token, label, { createdBy: audit.actor }, (tx, made) =>
            audit.entry('token.create', { tokenId: made, label, account: null, createdBy: audit.actor, expiresAt: null })(tx).catch((err: unknown) => {
              unrecorded = err;
              throw err;
            }),
          )
          .catch((err: unknown) => {
            if (unrecorded === undefined) throw err;
            throw new CliError(`the access log could not record the new token, so it was not kept (${unrecorded instanceof Error ? unrecorded.message : String(unrecorded)})`);
          });
        if (id === undefined) throw new CliError('the new token could not be stored');
        // stdout holds the token alone, for `TOKEN=$(warden token create)`; the advice goes to stderr.
        out(token);
        io.stderr.write('This admin token is shown only once; keep it somewhere safe. Use it as "Authorization: Bearer <token>".\n');
        return EXIT_OK;
      });
    }
    case 'archive': {
      if (sub !== 'verify') {
        throw new UsageError(sub === undefined ? 'archive: missing subcommand (verify)' : `archive: unknown subcommand ${JSON.stringify(sub)}`);
      }
      const { values } = parse(rest, { chain: { type: 'string' }, expect: { type: 'string' } }, []);
      let expectHead: { seq: number; hash: Buffer } | undefined;
      if (values.expect !== undefined) {
        const m = /^([1-9][0-9]{0,15}):([0-9a-fA-F]{64})$/.exec(values.expect);
        if (m === null) throw new UsageError('--expect: a noted head as <chain_seq>:<64 hex digits>, as verify printed it');
        if (values.chain === undefined) throw new UsageError('--expect: name the chain the head was noted on with --chain');
        expectHead = { seq: Number(m[1]), hash: Buffer.from(m[2]!, 'hex') };
      }
      return withDatabase(io, async (db) => {
        const report = await verifyArchive(db.sql, { ...(values.chain !== undefined && { chain: values.chain }), ...(expectHead !== undefined && { expectHead }) });
        if (values.chain !== undefined && report.chains.every((c) => c.rows === 0)) throw new CliError(`the archive has no chain ${values.chain}`);
        for (const c of report.chains) {
          const b = c.firstBroken;
          const deleted = c.tombstoned > 0 ? `, ${c.tombstoned} deleted by retention` : '';
          out(b === undefined ? `chain ${c.chain}: ${c.rows} rows${deleted}, intact`
            : `chain ${c.chain}: ${c.rows} rows, BROKEN at chain_seq ${b.chainSeq} (id ${b.id}, stanza ${b.stanzaId}, ${b.ts}): ${b.reason}`);
          // Noted somewhere Warden cannot write, this shows a later rewrite or cut (--expect).
          if (c.head !== undefined) out(`  head ${c.head.seq}:${c.head.hash}`);
          if (c.noted !== undefined) out(c.noted.ok ? `  noted head ${c.noted.seq}: still there` : `  noted head ${c.noted.seq}: ${c.noted.reason ?? 'does not hold'}`);
        }
        // Retention's records span every chain: reported when the whole archive is verified.
        const { retention } = report;
        if (values.chain === undefined && (retention.batches > 0 || retention.problems.length > 0)) {
          out(`retention: ${retention.batches} batches in ${retention.runs} runs`);
          // A run records itself in the access log when it ends: one still running is not a fault yet.
          for (const run of retention.pendingRuns) out(`retention run ${run}: not in the access log yet (running, or ended within the hour)`);
          for (const p of retention.problems) out(`retention batch ${p.batchId}: ${p.reason}`);
        }
        out(report.chains.length === 0 ? 'the archive is empty' : report.ok ? 'the archive is intact' : 'the archive has been tampered with');
        return report.ok ? EXIT_OK : EXIT_ARCHIVE_BROKEN;
      });
    }
    case 'migrate': {
      parse(sub === undefined ? rest : [sub, ...rest], {}, []);
      return withDatabase(io, async () => EXIT_OK, (applied) => {
        out(applied.length === 0 ? 'the database is up to date' : applied.map((m) => `applied ${m}`).join('\n'));
      });
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

function checkUsername(raw: string): string {
  const username = normalizeLocalpart(raw);
  if (username === undefined) throw new CliError(`${JSON.stringify(raw)} is not a valid user name (an XMPP localpart, RFC 7622)`);
  return username;
}

function derive(password: string) {
  if (password.length === 0) throw new CliError('the password must not be empty');
  if ([...password].length > MAX_PASSWORD_CHARS) throw new CliError(`the password must be at most ${MAX_PASSWORD_CHARS} characters`);
  try {
    return deriveCredentials(password);
  } catch (err) {
    if (err instanceof SaslPrepError) throw new CliError(`the password cannot be used (${err.message})`);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// The access log

const CLI_VIA: Principal['via'] = 'cli';
const PASSWORD_CHANGED: AccessAction = 'account.password';

/**
 * Access-log entries for a CLI command, as `cli:<os user>`: the CLI acts straight on the
 * database with an administrator's power, so what it changes is recorded like an admin's API
 * call. Under sudo the invoking user is named too (detail.sudoUser).
 */
function cliAudit(db: Database, env: CliIo['env']) {
  const accessLog = createAccessLogStore(db.sql);
  let user: string;
  try {
    user = os.userInfo().username;
  } catch {
    user = env.USER ?? env.LOGNAME ?? 'unknown'; // no passwd entry (some containers)
  }
  const actor = `cli:${user}`;
  const principal: Principal = { actor, role: 'admin', via: CLI_VIA, account: undefined };
  const detail = { host: os.hostname(), ...(env.SUDO_USER !== undefined && { sudoUser: env.SUDO_USER }) };
  const entryOf = (action: AccessAction, query: Record<string, unknown>): AccessEntry => ({ principal, ip: 'local', action, query, detail });
  return {
    actor,
    /** An InTransaction step: the entry commits with the change. */
    entry: (action: AccessAction, query: Record<string, unknown>) => (tx: Parameters<typeof accessLog.recordIn>[0]) => accessLog.recordIn(tx, entryOf(action, query)),
  };
}

// ---------------------------------------------------------------------------------------------
// Passwords

/** A new console password, by the same rule as the admin API (password-hash.ts). */
async function readConsolePassword(io: CliIo, fromStdin: boolean): Promise<string> {
  const password = await readPassword(io, fromStdin);
  const problem = newPasswordProblem(password);
  if (problem !== undefined) throw new CliError(`the password must have ${problem}`);
  return password;
}

async function readPassword(io: CliIo, fromStdin: boolean): Promise<string> {
  if (fromStdin || io.stdin.isTTY !== true) {
    const line = await readLine(io.stdin);
    if (line === undefined) throw new CliError('no password on stdin (expected one line)');
    return line;
  }
  const first = await askHidden(io, 'Password: ');
  const second = await askHidden(io, 'Password (again): ');
  if (first !== second) throw new CliError('the passwords do not match');
  return first;
}

/** The first line of a stream (without its line break); undefined when the stream ends first. */
function readLine(input: NodeJS.ReadableStream): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input, terminal: false, crlfDelay: Infinity });
    let done = false;
    rl.once('line', (line) => {
      done = true;
      rl.close();
      resolve(line);
    });
    rl.once('close', () => {
      if (!done) resolve(undefined);
    });
    input.once('error', reject);
  });
}

/** Asks on the terminal with echo off: readline writes to an output we mute after the prompt. */
function askHidden(io: CliIo, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let muted = false;
    const output = new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        if (!muted) io.stderr.write(chunk);
        callback();
      },
    });
    const rl = readline.createInterface({ input: io.stdin, output, terminal: true });
    let answered = false;
    rl.on('SIGINT', () => {
      io.stderr.write('\n');
      rl.close();
    });
    rl.once('close', () => {
      if (!answered) reject(new CliError('cancelled'));
    });
    rl.question(prompt, (answer) => {
      answered = true;
      io.stderr.write('\n');
      rl.close();
      resolve(answer);
    });
    muted = true;
  });
}

// ---------------------------------------------------------------------------------------------
// Database

/**
 * Opens the configured database, applies pending migrations, runs `fn`, and closes it.
 * `onMigrated` sees the names of the migrations this call applied.
 */
async function withDatabase(
  io: CliIo,
  fn: (db: Database, config: Config) => Promise<number>,
  onMigrated?: (applied: string[]) => void,
): Promise<number> {
  const config = loadConfig(io.env);
  // The CLI's contract is one line on failure: the server's info/warn lines (the embedded
  // store's banner, "connected to PostgreSQL") would drown it. LOG_LEVEL=debug shows them.
  const log = createLogger(config.logLevel === 'debug' ? 'debug' : 'error', { component: 'cli' }, (line) => io.stderr.write(line + '\n'));
  const db = await openCliDatabase(config, log);
  try {
    const applied = await migrate(db.sql, defaultMigrationsDir, log);
    onMigrated?.(applied);
    return await fn(db, config);
  } finally {
    await db.close();
  }
}

async function openCliDatabase(config: Config, log: Logger): Promise<Database> {
  // Two connections are plenty for one command.
  const poolSize = 2;
  if (config.databaseUrl !== undefined) return openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, log, poolSize });
  try {
    return await openDatabase({ dataDir: config.dataDir, log, poolSize });
  } catch (err) {
    if (!(err instanceof DataDirInUseError)) throw err;
    return attachToRunningServer(config.dataDir, err);
  }
}

/** Connects to the PGlite a running server serves on `${DATA_DIR}/pglite.sock`. */
async function attachToRunningServer(dataDir: string, inUse: DataDirInUseError): Promise<Database> {
  const socketPath = path.join(path.resolve(dataDir), SOCKET_FILE);
  const refuse = (why: string) =>
    new CliError(
      `the server is running on the embedded store (DATA_DIR ${dataDir} is in use by process ${inUse.pid}${inUse.host ? ` on ${inUse.host}` : ''}) ` +
        `and ${why}; stop it or use the admin API`,
    );
  if (!existsSync(socketPath)) throw refuse(`its database socket ${socketPath} is not there`);
  const sql = postgres({
    path: socketPath,
    user: 'postgres',
    database: 'postgres',
    // One connection, inside the server's margin of pglite-socket connections (pool size + 5).
    max: 1,
    connect_timeout: 5,
    // Every connection to PGlite is the server's one backend, and prepared statements of a
    // closed connection are never freed there: this short-lived client must not leave any.
    prepare: false,
    onnotice: () => {},
  });
  try {
    await sql`SELECT 1`;
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw refuse(`its database socket does not answer (${err instanceof Error ? err.message : String(err)})`);
  }
  let closing: Promise<void> | undefined;
  return { sql, embedded: true, close: () => (closing ??= sql.end({ timeout: 5 })) };
}
