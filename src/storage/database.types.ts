import type { Sql } from 'postgres';

/** An open connection pool to PostgreSQL — a real server (DATABASE_URL) or the embedded PGlite. */
export interface Database {
  readonly sql: Sql;
  /** True when this is the embedded PGlite store (for trying Warden out only). */
  readonly embedded: boolean;
  /** Ends the pool and, for the embedded store, stops PGlite and releases the folder lock. */
  close(): Promise<void>;
}
