import type { Queryable } from '@stocks/common';

export interface NewBacktest {
  ticker: string;
  job_id: string | null;
  source: string;
  params: Record<string, unknown>;
  config: Record<string, unknown>;
  first_origin: string;
  last_origin: string;
  n_origins: number;
  retrains: number;
  aggregates: Record<string, unknown>;
  coverage: Record<string, unknown>;
  /** Band scores beside static / EWMA / GARCH (null: stored before bands were scored). */
  bands: Record<string, unknown> | null;
  fits: unknown[];
  per_origin: unknown[];
  duration_ms: number;
  backend: string | null;
}

export interface BacktestRow extends NewBacktest {
  id: number;
  created_at: Date;
}

const SUMMARY = `id, ticker, job_id, source, params, config, first_origin, last_origin, n_origins, retrains, aggregates,
  coverage, bands, fits, duration_ms, backend, created_at`;

export async function insertBacktest(db: Queryable, b: NewBacktest): Promise<number> {
  const { rows } = await db.query<{ id: number }>(
    `INSERT INTO backtests (ticker, job_id, source, params, config, first_origin, last_origin, n_origins, retrains,
       aggregates, coverage, fits, per_origin, duration_ms, backend, bands)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16) RETURNING id`,
    [
      b.ticker, b.job_id, b.source, JSON.stringify(b.params), JSON.stringify(b.config), b.first_origin, b.last_origin,
      b.n_origins, b.retrains, JSON.stringify(b.aggregates), JSON.stringify(b.coverage), JSON.stringify(b.fits),
      JSON.stringify(b.per_origin), Math.round(b.duration_ms), b.backend, b.bands === null ? null : JSON.stringify(b.bands),
    ],
  );
  return Number(rows[0]!.id);
}

/** Newest first, without the per-origin detail. */
export async function listBacktests(db: Queryable, ticker: string, limit = 50): Promise<Array<Omit<BacktestRow, 'per_origin'>>> {
  const { rows } = await db.query(`SELECT ${SUMMARY} FROM backtests WHERE ticker = $1 ORDER BY id DESC LIMIT $2`, [ticker, limit]);
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

export async function getBacktest(db: Queryable, id: number): Promise<BacktestRow | undefined> {
  const { rows } = await db.query(`SELECT * FROM backtests WHERE id = $1`, [id]);
  return rows[0] ? { ...rows[0], id: Number(rows[0].id) } : undefined;
}

export async function getBacktestIdForJob(db: Queryable, jobId: string): Promise<number | undefined> {
  const { rows } = await db.query<{ id: string }>(`SELECT id FROM backtests WHERE job_id = $1 ORDER BY id DESC LIMIT 1`, [jobId]);
  return rows[0] ? Number(rows[0].id) : undefined;
}
