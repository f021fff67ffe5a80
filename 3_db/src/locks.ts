import type { Pool, PoolClient } from '@stocks/common';

/**
 * A per-ticker lock that lives as long as the holder's connection: if the process dies the
 * server drops the connection and the lock with it, so no ticker stays locked after a crash.
 */
export interface TickerLock {
  release(): Promise<void>;
}

export async function tryLockTicker(pool: Pool, scope: string, ticker: string): Promise<TickerLock | undefined> {
  const client: PoolClient = await pool.connect();
  try {
    const { rows } = await client.query<{ ok: boolean }>(
      `SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok`,
      [scope, ticker],
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
        await client.query(`SELECT pg_advisory_unlock(hashtext($1), hashtext($2))`, [scope, ticker]);
        client.release();
      } catch (err) {
        // A broken connection already dropped the lock; don't return it to the pool.
        client.release(err as Error);
      }
    },
  };
}
