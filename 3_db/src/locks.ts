import type { Pool, PoolClient } from '@stocks/common';

/**
 * An advisory lock on (scope, key) that lives as long as the holder's connection: if the process
 * dies the server drops the connection and the lock with it, so nothing stays locked after a
 * crash. The shepherd uses it per ticker and per run (a run's lock says its process is alive).
 */
export interface SessionLock {
  release(): Promise<void>;
}

export async function trySessionLock(pool: Pool, scope: string, key: string): Promise<SessionLock | undefined> {
  const client: PoolClient = await pool.connect();
  try {
    const { rows } = await client.query<{ ok: boolean }>(
      `SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok`,
      [scope, key],
    );
    if (!rows[0]?.ok) {
      client.release();
      return undefined;
    }
  } catch (err) {
    client.release();
    throw err;
  }
  return {
    async release() {
      try {
        await client.query(`SELECT pg_advisory_unlock(hashtext($1), hashtext($2))`, [scope, key]);
        client.release();
      } catch (err) {
        // A broken connection already dropped the lock; don't return it to the pool.
        client.release(err as Error);
      }
    },
  };
}
