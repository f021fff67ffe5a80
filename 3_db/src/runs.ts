import type { Queryable } from '@stocks/common';

export type RunTrigger = 'startup' | 'cron' | 'manual';
export type RunStatus = 'running' | 'succeeded' | 'partial' | 'failed' | 'skipped';
export type StepStatus = 'succeeded' | 'failed' | 'skipped';

export interface RunRow {
  id: number;
  trigger: RunTrigger;
  status: RunStatus;
  host: string | null;
  tickers: string[];
  error: string | null;
  started_at: Date;
  finished_at: Date | null;
}

export interface StepRow {
  id: number;
  run_id: number;
  ticker: string;
  step: string;
  status: StepStatus;
  detail: Record<string, unknown>;
  error: string | null;
  started_at: Date;
  finished_at: Date;
}

/** A fresh run id, taken before the row exists so the run's lock can be held from its first moment. */
export async function nextRunId(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ id: number }>(`SELECT nextval(pg_get_serial_sequence('shepherd_runs', 'id'))::int8 AS id`);
  return rows[0]!.id;
}

/**
 * Record a run as 'running', unless one already is (the partial unique index allows one across
 * every replica): then undefined, and the caller answers the running one.
 */
export async function createRun(db: Queryable, id: number, trigger: RunTrigger, tickers: string[], host: string): Promise<RunRow | undefined> {
  const { rows } = await db.query<RunRow>(
    `INSERT INTO shepherd_runs (id, trigger, tickers, host) OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING RETURNING *`,
    [id, trigger, tickers, host],
  );
  return rows[0];
}

export async function getRunningRun(db: Queryable): Promise<RunRow | undefined> {
  const { rows } = await db.query<RunRow>(`SELECT * FROM shepherd_runs WHERE status = 'running'`);
  return rows[0];
}

export async function recordStep(
  db: Queryable,
  step: { run_id: number; ticker: string; step: string; status: StepStatus; detail?: Record<string, unknown>; error?: string; started_at: Date },
): Promise<void> {
  await db.query(
    `INSERT INTO shepherd_steps (run_id, ticker, step, status, detail, error, started_at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
    [step.run_id, step.ticker, step.step, step.status, JSON.stringify(step.detail ?? {}), step.error ?? null, step.started_at],
  );
}

/** Close a run that is still running (a run closed already, e.g. as abandoned, keeps its outcome). */
export async function finishRun(db: Queryable, id: number, status: Exclude<RunStatus, 'running'>, error?: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE shepherd_runs SET status = $2, error = $3, finished_at = now() WHERE id = $1 AND status = 'running'`,
    [id, status, error ?? null],
  );
  return rowCount === 1;
}

export async function getRun(db: Queryable, id: number): Promise<(RunRow & { steps: StepRow[] }) | undefined> {
  const { rows } = await db.query<RunRow>(`SELECT * FROM shepherd_runs WHERE id = $1`, [id]);
  if (!rows[0]) return undefined;
  const steps = await db.query<StepRow>(`SELECT * FROM shepherd_steps WHERE run_id = $1 ORDER BY id`, [id]);
  return { ...rows[0], steps: steps.rows };
}

/** When the newest finished run ended; null before the first one. */
export async function lastFinishedAt(db: Queryable): Promise<Date | null> {
  const { rows } = await db.query<{ at: Date | null }>(`SELECT max(finished_at) AS at FROM shepherd_runs`);
  return rows[0]?.at ?? null;
}

export async function listRuns(db: Queryable, limit = 20): Promise<Array<RunRow & { steps: StepRow[] }>> {
  const { rows } = await db.query<RunRow>(`SELECT * FROM shepherd_runs ORDER BY id DESC LIMIT $1`, [limit]);
  if (rows.length === 0) return [];
  const steps = await db.query<StepRow>(`SELECT * FROM shepherd_steps WHERE run_id = ANY($1) ORDER BY id`, [rows.map((r) => r.id)]);
  return rows.map((r) => ({ ...r, steps: steps.rows.filter((s) => s.run_id === r.id) }));
}
