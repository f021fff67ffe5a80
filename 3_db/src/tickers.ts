import type { Queryable } from '@stocks/common';

/** Mark that a ticker's stored history was rewritten (split): its next training must be full. */
export async function markHistoryRewritten(db: Queryable, ticker: string): Promise<void> {
  await db.query(
    `INSERT INTO tickers (ticker, history_rewritten_at, needs_full_retrain, updated_at) VALUES ($1, now(), true, now())
     ON CONFLICT (ticker) DO UPDATE SET history_rewritten_at = now(), needs_full_retrain = true, updated_at = now()`,
    [ticker],
  );
}

export async function needsFullRetrain(db: Queryable, ticker: string): Promise<boolean> {
  const { rows } = await db.query<{ needs_full_retrain: boolean }>(`SELECT needs_full_retrain FROM tickers WHERE ticker = $1`, [ticker]);
  return rows[0]?.needs_full_retrain ?? false;
}

export async function clearFullRetrain(db: Queryable, ticker: string): Promise<void> {
  await db.query(`UPDATE tickers SET needs_full_retrain = false, updated_at = now() WHERE ticker = $1`, [ticker]);
}
