import { type DailyBar, ISO_DATE, type Queryable } from '@stocks/common';

export interface UpsertResult {
  inserted: number;
  updated: number;
}

export interface PriceRow extends DailyBar {
  ticker: string;
  source: string;
}

/**
 * Insert or update bars in ONE statement (arrays unnested server-side): fast, atomic, and
 * idempotent. Rows whose values did not change are not touched, so a repeated load reports
 * 0 inserted and 0 updated. The counts come back as one row, not one row per bar, and the
 * arrays are sent as literals built here (dates are validated YYYY-MM-DD strings, the rest
 * numbers), skipping pg's generic per-element escaping: ~15% of a 2,500-bar upsert.
 */
export async function upsertPrices(db: Queryable, ticker: string, source: string, bars: DailyBar[]): Promise<UpsertResult> {
  if (bars.length === 0) return { inserted: 0, updated: 0 };
  const col = <K extends keyof DailyBar>(k: K) => arrayLiteral(bars.map((b) => b[k]));
  const { rows } = await db.query<UpsertResult>(
    `WITH written AS (
       INSERT INTO prices AS p (ticker, date, open, high, low, close, adj_close, volume, source, fetched_at)
       SELECT $1, t.date, t.open, t.high, t.low, t.close, t.adj_close, t.volume, $2, now()
         FROM unnest($3::date[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::bigint[])
           AS t(date, open, high, low, close, adj_close, volume)
        ORDER BY t.date
       ON CONFLICT (ticker, date) DO UPDATE
          SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
              adj_close = EXCLUDED.adj_close, volume = EXCLUDED.volume, source = EXCLUDED.source,
              fetched_at = EXCLUDED.fetched_at
        WHERE (p.open, p.high, p.low, p.close, p.adj_close, p.volume)
              IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.adj_close, EXCLUDED.volume)
       RETURNING (xmax = 0) AS inserted)
     SELECT count(*) FILTER (WHERE inserted)::int AS inserted, count(*) FILTER (WHERE NOT inserted)::int AS updated FROM written`,
    [
      ticker,
      source,
      col('date'),
      col('open'),
      col('high'),
      col('low'),
      col('close'),
      col('adj_close'),
      arrayLiteral(bars.map((b) => (b.volume === null ? null : Math.round(b.volume)))),
    ],
  );
  return rows[0]!;
}

/**
 * A Postgres array literal of values that need no quoting: finite numbers and ISO dates, both
 * checked (a NaN price would otherwise be stored: NaN > 0 holds in Postgres); null and undefined
 * are NULL, as pg sends them.
 */
function arrayLiteral(values: ReadonlyArray<number | string | null | undefined>): string {
  return `{${values.map((v) => {
    if (v === null || v === undefined) return 'NULL';
    if (typeof v === 'number' && !Number.isFinite(v)) throw new TypeError(`not a finite number: ${v}`);
    if (typeof v === 'string' && !ISO_DATE.test(v)) throw new TypeError(`not a YYYY-MM-DD date: ${JSON.stringify(v)}`);
    return String(v);
  }).join(',')}}`;
}

/**
 * Serialise writers of one ticker's prices until the caller's transaction ends. Two loads of
 * overlapping ranges then run one after the other: no deadlock, and no interleaving of a full
 * history rewrite with a plain upsert. Readers are never blocked (MVCC).
 */
export async function lockTickerForWrite(tx: Queryable, ticker: string): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtext('prices'), hashtext($1))`, [ticker]);
}

/**
 * Make `bars` the ticker's whole stored history: upsert them, then delete every other date.
 * Meant for the caller's transaction (after a split rewrote Yahoo's adjusted series), so readers
 * see the old history or the new one, never a mix of scales.
 */
export async function replacePriceHistory(
  tx: Queryable,
  ticker: string,
  source: string,
  bars: DailyBar[],
): Promise<UpsertResult & { deleted: number }> {
  const upserted = await upsertPrices(tx, ticker, source, bars);
  const { rowCount } = await tx.query(
    `DELETE FROM prices WHERE ticker = $1 AND NOT (date = ANY($2::date[]))`,
    [ticker, bars.map((b) => b.date)],
  );
  return { ...upserted, deleted: rowCount ?? 0 };
}

/** Bars of a ticker, oldest first, optionally bounded (inclusive). */
export async function getPrices(db: Queryable, ticker: string, range: { from?: string; to?: string } = {}): Promise<DailyBar[]> {
  const { rows } = await db.query<DailyBar>(
    `SELECT date, open, high, low, close, adj_close, volume
       FROM prices
      WHERE ticker = $1 AND ($2::date IS NULL OR date >= $2) AND ($3::date IS NULL OR date <= $3)
      ORDER BY date`,
    [ticker, range.from ?? null, range.to ?? null],
  );
  return rows;
}

/** The newest `count` bars up to `to`, oldest first (what a forecast needs). */
export async function getRecentPrices(db: Queryable, ticker: string, count: number, to?: string): Promise<DailyBar[]> {
  const { rows } = await db.query<DailyBar>(
    `SELECT * FROM (
       SELECT date, open, high, low, close, adj_close, volume FROM prices
        WHERE ticker = $1 AND ($3::date IS NULL OR date <= $3)
        ORDER BY date DESC LIMIT $2) recent
      ORDER BY date`,
    [ticker, count, to ?? null],
  );
  return rows;
}

export interface PriceCoverage {
  ticker: string;
  first_date: string;
  last_date: string;
  rows: number;
}

export async function getCoverage(db: Queryable, ticker: string, upTo?: string): Promise<PriceCoverage | undefined> {
  const { rows } = await db.query<PriceCoverage>(
    `SELECT ticker, min(date) AS first_date, max(date) AS last_date, count(*)::int AS rows
       FROM prices WHERE ticker = $1 AND ($2::date IS NULL OR date <= $2::date) GROUP BY ticker`,
    [ticker, upTo ?? null],
  );
  return rows[0];
}

/**
 * The newest stored date of each of `tickers` that has prices, in one statement (one index probe
 * per ticker: a /metrics scrape of a 500-ticker watchlist stays one round trip).
 */
export async function lastDates(db: Queryable, tickers: readonly string[]): Promise<Array<{ ticker: string; last_date: string }>> {
  const { rows } = await db.query<{ ticker: string; last_date: string }>(
    `SELECT t.ticker, d.last_date
       FROM unnest($1::text[]) AS t(ticker)
       CROSS JOIN LATERAL (SELECT max(date) AS last_date FROM prices p WHERE p.ticker = t.ticker) d
      WHERE d.last_date IS NOT NULL`,
    [tickers],
  );
  return rows;
}

export async function listCoverage(db: Queryable): Promise<PriceCoverage[]> {
  const { rows } = await db.query<PriceCoverage>(
    `SELECT ticker, min(date) AS first_date, max(date) AS last_date, count(*)::int AS rows
       FROM prices GROUP BY ticker ORDER BY ticker`,
  );
  return rows;
}
