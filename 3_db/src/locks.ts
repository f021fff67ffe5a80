import { holdClient, type Pool } from '@stocks/common';

/**
 * An advisory lock on (scope, key) that lives as long as the holder's connection: if the process
 * dies the server drops the connection and the lock with it, so nothing stays locked after a
 * crash. The shepherd uses it per ticker and per run (a run's lock says its process is alive).
 */
export interface SessionLock {
  /** Aborts when the lock's connection drops: the server released the lock, the holder must stop. */
  lost: AbortSignal;
  release(): Promise<void>;
}

export async function trySessionLock(pool: Pool, scope: string, key: string): Promise<SessionLock | undefined> {
  const held = await holdClient(pool);
  try {
    const { rows } = await held.client.query<{ ok: boolean }>(
      `SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok`,
      [scope, key],
    );
    if (!rows[0]?.ok) {
      held.release();
      return undefined;
    }
  } catch (err) {
    held.release();
    throw err;
  }
  return {
    lost: held.lost,
    async release() {
      if (!held.lost.aborted) {
        // A broken connection already dropped the lock; holdClient then destroys the client.
        await held.client.query(`SELECT pg_advisory_unlock(hashtext($1), hashtext($2))`, [scope, key]).catch(() => {});
      }
      held.release();
    },
  };
}
