// `npm start`: read the configuration, start Warden, stop cleanly on SIGTERM/SIGINT.
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './log.ts';
import { startServer } from './server.ts';

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`warden: invalid configuration: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  // A stray rejection (e.g. a database driver's internal query on a dropped connection) is logged,
  // not allowed to take every session down with the process.
  process.on('unhandledRejection', (reason) => {
    log.error('unhandled rejection', { error: reason instanceof Error ? reason.message : String(reason) });
  });
  const server = await startServer(config, { log });
  if (server.generatedAdminToken) {
    // Shown once, on stdout only; only its hash is stored.
    process.stdout.write(
      `\n  Admin API token (shown once, store it now):\n\n    ${server.generatedAdminToken}\n\n` +
        `  Use it as: curl -H 'Authorization: Bearer <token>' http://localhost:${server.ports.http}/api/v1/users\n\n`,
    );
  }
  return new Promise((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`received ${signal}`);
      const force = setTimeout(() => {
        log.error('shutdown took too long; exiting');
        resolve(1);
      }, config.shutdownGraceMs + 5000);
      force.unref();
      server.stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error('shutdown failed', { error: String(err) });
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`warden: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
