import type { PoolClient, Queryable } from '@stocks/common';

export interface ErrorMetrics {
  mae: number;
  rmse: number;
  mape: number;
}

export type ModelStatus = 'champion' | 'challenger' | 'rejected' | 'retired';

/** The descriptive columns of a version, shared by what is written and what is listed. */
interface VersionFields {
  ticker: string;
  kind: 'train' | 'fine-tune';
  parent_version: number | null;
  job_id: string | null;
  config: Record<string, unknown>;
  alpha: number;
  metrics: ErrorMetrics;
  baseline: ErrorMetrics;
  evaluation: Record<string, unknown>;
  train_start: string;
  train_end: string;
  validation_start: string | null;
  validation_end: string | null;
  final_loss: number | null;
}

/** What a finished training job hands to the registry. */
export interface NewModelVersion extends VersionFields {
  topology: unknown;
  weight_specs: unknown;
  weights: Uint8Array;
  scaler: unknown;
  epochs: number;
  duration_ms: number;
  backend: string;
}

/** A version without its (large) artifact, as listed by the API. */
export interface ModelSummary extends VersionFields {
  version: number;
  status: ModelStatus;
  is_champion: boolean;
  status_reason: string | null;
  epochs: number | null;
  duration_ms: number | null;
  backend: string | null;
  created_at: Date;
}

export interface ModelArtifactRow extends ModelSummary {
  topology: unknown;
  weight_specs: unknown;
  weights: Buffer;
  scaler: unknown;
}

const SUMMARY_COLUMNS = `version, ticker, kind, parent_version, job_id, status, is_champion, status_reason, config, alpha,
  metrics, baseline, evaluation, train_start, train_end, validation_start, validation_end, epochs, final_loss,
  duration_ms, backend, created_at`;

/**
 * Store a version and, when `promote` is set, make it the ticker's champion, in the caller's
 * transaction so readers see either the old champion or the new one, never neither.
 */
export async function insertModelVersion(
  tx: PoolClient,
  m: NewModelVersion,
  decision: { promote: boolean; reason: string },
): Promise<number> {
  if (decision.promote) {
    // The same lock promote and rollback take: a save never interleaves with a manual change.
    await lockChampion(tx, m.ticker);
    await tx.query(`UPDATE models SET is_champion = false, status = 'retired' WHERE ticker = $1 AND is_champion`, [m.ticker]);
  }
  const { rows } = await tx.query<{ version: number }>(
    `INSERT INTO models (ticker, kind, parent_version, job_id, status, is_champion, status_reason, topology, weight_specs,
       weights, scaler, config, alpha, metrics, baseline, evaluation, train_start, train_end, validation_start,
       validation_end, epochs, final_loss, duration_ms, backend)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24)
     RETURNING version`,
    [
      m.ticker, m.kind, m.parent_version, m.job_id,
      decision.promote ? 'champion' : 'rejected', decision.promote, decision.reason,
      JSON.stringify(m.topology), JSON.stringify(m.weight_specs), Buffer.from(m.weights.buffer, m.weights.byteOffset, m.weights.byteLength),
      JSON.stringify(m.scaler), JSON.stringify(m.config), m.alpha, JSON.stringify(m.metrics), JSON.stringify(m.baseline),
      JSON.stringify(m.evaluation), m.train_start, m.train_end, m.validation_start, m.validation_end, m.epochs,
      m.final_loss, Math.round(m.duration_ms), m.backend,
    ],
  );
  const version = rows[0]!.version;
  await tx.query(`INSERT INTO model_events (ticker, version, action, reason) VALUES ($1, $2, $3, $4)`, [
    m.ticker, version, decision.promote ? 'promote' : 'reject', decision.reason,
  ]);
  return version;
}

export async function listModels(db: Queryable, ticker: string, limit = 50): Promise<ModelSummary[]> {
  const { rows } = await db.query<ModelSummary>(
    `SELECT ${SUMMARY_COLUMNS} FROM models WHERE ticker = $1 ORDER BY version DESC LIMIT $2`,
    [ticker, limit],
  );
  return rows;
}

export async function getChampion(db: Queryable, ticker: string): Promise<ModelArtifactRow | undefined> {
  const { rows } = await db.query<ModelArtifactRow>(`SELECT * FROM models WHERE ticker = $1 AND is_champion`, [ticker]);
  return rows[0];
}

/** The champion's summary (no artifact): e.g. up to which bar it was trained. */
export async function getChampionSummary(db: Queryable, ticker: string): Promise<ModelSummary | undefined> {
  const { rows } = await db.query<ModelSummary>(`SELECT ${SUMMARY_COLUMNS} FROM models WHERE ticker = $1 AND is_champion`, [ticker]);
  return rows[0];
}

/** The newest bar a version saw: its validation windows end on it (train_end for versions without validation). */
export function lastBarSeen(m: Pick<ModelSummary, 'validation_end' | 'train_end'>): string {
  return m.validation_end ?? m.train_end;
}

export async function getChampionVersion(db: Queryable, ticker: string): Promise<number | undefined> {
  const { rows } = await db.query<{ version: number }>(`SELECT version FROM models WHERE ticker = $1 AND is_champion`, [ticker]);
  return rows[0]?.version;
}

export async function getModel(db: Queryable, version: number): Promise<ModelArtifactRow | undefined> {
  const { rows } = await db.query<ModelArtifactRow>(`SELECT * FROM models WHERE version = $1`, [version]);
  return rows[0];
}

/** Champions of every ticker (summary only), for metrics and the page. */
export async function listChampions(db: Queryable): Promise<ModelSummary[]> {
  const { rows } = await db.query<ModelSummary>(`SELECT ${SUMMARY_COLUMNS} FROM models WHERE is_champion ORDER BY ticker`);
  return rows;
}

/** What the estimator's per-champion gauges show: a few numbers per ticker, none of the JSON beside them. */
export interface ChampionGaugeRow {
  ticker: string;
  version: number;
  mae: number;
  mape: number;
  naive_mae: number;
  naive_mape: number;
}

/** Every champion's validation figures, lean enough to read on each /metrics scrape of 500 tickers. */
export async function listChampionGauges(db: Queryable): Promise<ChampionGaugeRow[]> {
  const { rows } = await db.query<ChampionGaugeRow>(
    `SELECT ticker, version, (metrics->>'mae')::float8 AS mae, (metrics->>'mape')::float8 AS mape,
            (baseline->>'mae')::float8 AS naive_mae, (baseline->>'mape')::float8 AS naive_mape
       FROM models WHERE is_champion ORDER BY ticker`,
  );
  return rows;
}

/** Serialise every change of a ticker's champion until the caller's transaction ends. */
export async function lockChampion(tx: PoolClient, ticker: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`champion:${ticker}`]);
}

/** Make an existing version the champion (manual promotion or rollback), recorded as an event. */
export async function setChampion(tx: PoolClient, ticker: string, version: number, action: string, reason: string): Promise<void> {
  await tx.query(`UPDATE models SET is_champion = false, status = 'retired' WHERE ticker = $1 AND is_champion`, [ticker]);
  const { rowCount } = await tx.query(
    `UPDATE models SET is_champion = true, status = 'champion', status_reason = $3 WHERE ticker = $1 AND version = $2`,
    [ticker, version, reason],
  );
  if (!rowCount) throw new Error(`model version ${version} of ${ticker} not found`);
  await tx.query(`INSERT INTO model_events (ticker, version, action, reason) VALUES ($1, $2, $3, $4)`, [ticker, version, action, reason]);
}

/**
 * The version that was champion before the current one, walking the history: the champion
 * changes (promote, manual-promote, rollback) replayed as a stack, where a rollback returns to
 * the entry under the top. Rolling back twice from C (after A then B then C) gives B, then A;
 * never back to the version just left.
 */
export async function previousChampionVersion(db: Queryable, ticker: string): Promise<number | undefined> {
  const { rows } = await db.query<{ version: string; action: string }>(
    `SELECT version, action FROM model_events
      WHERE ticker = $1 AND action IN ('promote', 'manual-promote', 'rollback') ORDER BY id`,
    [ticker],
  );
  const stack: number[] = [];
  for (const e of rows) {
    const version = Number(e.version);
    if (e.action === 'rollback') {
      stack.pop();
      if (stack.at(-1) !== version) stack.push(version); // a rollback recorded without its history
    } else if (stack.at(-1) !== version) {
      stack.push(version);
    }
  }
  const current = await getChampionVersion(db, ticker);
  // Drop the current champion (and any stale repeats of it) from the top, then answer what lies under.
  while (stack.length && stack.at(-1) === current) stack.pop();
  return stack.at(-1);
}
