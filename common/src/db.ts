import pg from 'pg';

// Postgres returns DATE columns as JS Dates in local time by default; we want the plain
// calendar string so a date never shifts across a time zone.
pg.types.setTypeParser(pg.types.builtins.DATE, (v) => v);
// BIGINT (count(*), volume) as number: our values stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
export type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

export function createPool(databaseUrl: string, options: { max?: number; application_name?: string } = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10,
    application_name: options.application_name,
    // A dead server must not hang requests forever.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: 60_000,
  });
  // An idle client losing its connection (Postgres restart) emits here; without a listener
  // the process would crash. The pool replaces the client on next checkout.
  pool.on('error', () => {});
  return pool;
}

/** Create the database named in the URL when it does not exist yet (connects to `postgres`). */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) return;
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      try {
        await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      } catch (err) {
        // Another service created it at the same moment.
        if ((err as { code?: string }).code !== '42P04' && (err as { code?: string }).code !== '23505') throw err;
      }
    }
  } finally {
    await client.end();
  }
}

/**
 * A client checked out for one unit of work. pg-pool listens for a client's 'error' only while it
 * is idle: a held client losing its connection (Postgres restart, failover, pg_terminate_backend)
 * with no listener of its own takes the whole process down. `lost` aborts when that happens, so
 * the holder can end its work (a stalled upload is cut, a run is marked failed), and the client
 * is then destroyed on release instead of going back to the pool.
 */
export interface HeldClient {
  client: pg.PoolClient;
  lost: AbortSignal;
  release(): void;
}

export async function holdClient(pool: pg.Pool): Promise<HeldClient> {
  const client = await pool.connect();
  const controller = new AbortController();
  const onError = (err: Error) => {
    if (!controller.signal.aborted) controller.abort(new ConnectionLostError(err));
  };
  client.on('error', onError);
  let released = false;
  return {
    client,
    lost: controller.signal,
    release() {
      if (released) return;
      released = true;
      const reason = controller.signal.aborted ? (controller.signal.reason as Error) : undefined;
      client.release(reason);
      // Keep a listener until the socket is gone: a late 'error' on a destroyed client must not crash.
      if (reason) client.on('error', () => {});
      client.removeListener('error', onError);
    },
  };
}

/** The database connection a unit of work was holding dropped; the work ended, nothing committed. */
export class ConnectionLostError extends Error {
  override readonly name = 'ConnectionLostError';
  constructor(cause: Error) {
    super(`lost the database connection: ${cause.message}`, { cause });
  }
}

/**
 * Run `fn` inside one transaction on its own client. `lost` aborts when the connection drops
 * mid-transaction (the server rolled back): work that waits on something else (an upload) should
 * stop on it.
 */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient, lost: AbortSignal) => Promise<T>): Promise<T> {
  const held = await holdClient(pool);
  const { client } = held;
  try {
    await client.query('BEGIN');
    const result = await fn(client, held.lost);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    if (!held.lost.aborted) await client.query('ROLLBACK').catch(() => {});
    if (held.lost.aborted && !(err instanceof ConnectionLostError)) throw held.lost.reason;
    throw err;
  } finally {
    held.release();
  }
}
