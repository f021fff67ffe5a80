import type { Queryable } from '@stocks/common';

/** One served forecast point (what GET /predict answered for one future date). */
export interface ServedPoint {
  date: string;
  close: number;
  lower80?: number;
  upper80?: number;
  lower95?: number;
  upper95?: number;
}

export interface ServedForecast {
  ticker: string;
  model_version: number;
  /** The last stored bar the forecast was made from. */
  origin_date: string;
  points: ServedPoint[];
}

/**
 * Store a served forecast once: one row per target date, first one wins (made_at kept). The
 * naive forecast made at the same time is the origin's close. A target whose close is already
 * stored is realised at once; later ones by the trigger on prices.
 */
export async function recordServedForecast(db: Queryable, f: ServedForecast): Promise<number> {
  if (f.points.length === 0) return 0;
  const col = <K extends keyof ServedPoint>(k: K) => f.points.map((p) => (p[k] ?? null));
  const { rowCount } = await db.query(
    `INSERT INTO served_forecasts AS s (ticker, model_version, origin_date, target_date, step, value, naive_value,
       lower80, upper80, lower95, upper95, actual, realised_at)
     SELECT $1, $2, $3::date, t.target, t.step, t.value, o.close, t.l80, t.u80, t.l95, t.u95, a.close,
            CASE WHEN a.close IS NOT NULL THEN now() END
       FROM unnest($4::date[], $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::float8[])
              WITH ORDINALITY AS t(target, value, l80, u80, l95, u95, step)
       JOIN prices o ON o.ticker = $1 AND o.date = $3::date
       LEFT JOIN prices a ON a.ticker = $1 AND a.date = t.target
      WHERE t.target > $3::date
     ON CONFLICT (ticker, model_version, origin_date, target_date) DO NOTHING`,
    [f.ticker, f.model_version, f.origin_date, col('date'), col('close'), col('lower80'), col('upper80'), col('lower95'), col('upper95')],
  );
  return rowCount ?? 0;
}

export interface LiveErrorRow {
  /** Trading days of stored prices the window covers (null: everything recorded). */
  window_days: number | null;
  model_version: number;
  n: number;
  mae: number;
  mape: number;
  naive_mae: number;
  naive_mape: number;
  n_intervals: number;
  coverage80: number | null;
  coverage95: number | null;
  first_target: string;
  last_target: string;
}

/**
 * Realised errors per model version over windows of the most recent `windows[i]` trading days
 * of the ticker's stored prices (by target date), pooled over horizon steps, beside the naive
 * forecast made at the same moment for the same targets. `null` in `windows` = all time.
 */
export async function liveErrors(db: Queryable, ticker: string, windows: Array<number | null>): Promise<LiveErrorRow[]> {
  const { rows } = await db.query<LiveErrorRow>(
    `WITH w AS (
       SELECT w.days, CASE WHEN w.days IS NULL THEN NULL ELSE
              (SELECT min(d.date) FROM (SELECT date FROM prices WHERE ticker = $1 ORDER BY date DESC LIMIT w.days) d) END AS since
         FROM unnest($2::int[]) AS w(days)
     )
     SELECT w.days AS window_days, f.model_version, count(*)::int AS n,
            avg(f.abs_error) AS mae, 100 * avg(f.abs_error / f.actual) AS mape,
            avg(f.naive_abs_error) AS naive_mae, 100 * avg(f.naive_abs_error / f.actual) AS naive_mape,
            count(f.lower80)::int AS n_intervals,
            avg(CASE WHEN f.lower80 IS NULL THEN NULL WHEN f.actual BETWEEN f.lower80 AND f.upper80 THEN 1.0 ELSE 0.0 END) AS coverage80,
            avg(CASE WHEN f.lower95 IS NULL THEN NULL WHEN f.actual BETWEEN f.lower95 AND f.upper95 THEN 1.0 ELSE 0.0 END) AS coverage95,
            min(f.target_date) AS first_target, max(f.target_date) AS last_target
       FROM w JOIN served_forecasts f ON f.ticker = $1 AND f.actual IS NOT NULL AND (w.since IS NULL OR f.target_date >= w.since)
      GROUP BY w.days, f.model_version
      ORDER BY f.model_version DESC, w.days NULLS LAST`,
    [ticker, windows],
  );
  return rows;
}

export interface ServedForecastRow {
  model_version: number;
  made_at: Date;
  origin_date: string;
  target_date: string;
  step: number;
  value: number;
  naive_value: number;
  lower80: number | null;
  upper80: number | null;
  lower95: number | null;
  upper95: number | null;
  actual: number | null;
  abs_error: number | null;
  naive_abs_error: number | null;
}

/** A ticker's served forecasts, newest target first, optionally only one horizon step. */
export async function listServedForecasts(db: Queryable, ticker: string, opts: { limit?: number; step?: number } = {}): Promise<ServedForecastRow[]> {
  const { rows } = await db.query<ServedForecastRow>(
    `SELECT model_version, made_at, origin_date, target_date, step, value, naive_value, lower80, upper80, lower95, upper95,
            actual, abs_error, naive_abs_error
       FROM served_forecasts
      WHERE ticker = $1 AND ($2::int IS NULL OR step = $2)
      ORDER BY target_date DESC, origin_date DESC, model_version DESC
      LIMIT $3`,
    [ticker, opts.step ?? null, opts.limit ?? 500],
  );
  return rows;
}

export interface JobListRow {
  id: string;
  kind: string;
  status: string;
  model_version: number | null;
  error: string | null;
  attempts: number;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

/** A ticker's most recent jobs, newest first. */
export async function listRecentJobs(db: Queryable, ticker: string, limit = 20): Promise<JobListRow[]> {
  const { rows } = await db.query<JobListRow>(
    `SELECT id, kind, status, model_version, error, attempts, created_at, started_at, finished_at
       FROM training_jobs WHERE ticker = $1 ORDER BY created_at DESC LIMIT $2`,
    [ticker, limit],
  );
  return rows;
}
