import type { Queryable } from '@stocks/common';

export type JobKind = 'train' | 'fine-tune' | 'backtest';
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface JobRow {
  id: string;
  kind: JobKind;
  ticker: string;
  params: Record<string, unknown>;
  status: JobStatus;
  model_version: number | null;
  error: string | null;
  attempts: number;
  worker: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export async function createJob(db: Queryable, job: { id: string; kind: JobKind; ticker: string; params: Record<string, unknown> }): Promise<JobRow> {
  const { rows } = await db.query<JobRow>(
    `INSERT INTO training_jobs (id, kind, ticker, params) VALUES ($1, $2, $3, $4) RETURNING *`,
    [job.id, job.kind, job.ticker, JSON.stringify(job.params)],
  );
  return rows[0]!;
}

export async function getJob(db: Queryable, id: string): Promise<JobRow | undefined> {
  const { rows } = await db.query<JobRow>(`SELECT * FROM training_jobs WHERE id = $1`, [id]);
  return rows[0];
}

export async function markJobRunning(db: Queryable, id: string, worker: string): Promise<void> {
  await db.query(
    `UPDATE training_jobs SET status = 'running', started_at = now(), attempts = attempts + 1, worker = $2, error = NULL
      WHERE id = $1`,
    [id, worker],
  );
}

export async function markJobSucceeded(db: Queryable, id: string, modelVersion: number | null): Promise<void> {
  await db.query(
    `UPDATE training_jobs SET status = 'succeeded', model_version = $2, finished_at = now(), error = NULL WHERE id = $1`,
    [id, modelVersion],
  );
}

/** `final` false means the queue will retry: the job goes back to queued with the last error kept. */
export async function markJobFailed(db: Queryable, id: string, error: string, final: boolean): Promise<void> {
  await db.query(
    `UPDATE training_jobs SET status = $3, error = $2, finished_at = CASE WHEN $3 = 'failed' THEN now() END WHERE id = $1`,
    [id, error.slice(0, 2000), final ? 'failed' : 'queued'],
  );
}

/** An unfinished job of the same kind for the ticker, so repeated requests don't pile up. */
export async function findActiveJob(db: Queryable, ticker: string, kind: JobKind): Promise<JobRow | undefined> {
  const { rows } = await db.query<JobRow>(
    `SELECT * FROM training_jobs WHERE ticker = $1 AND kind = $2 AND status IN ('queued', 'running')
      ORDER BY created_at DESC LIMIT 1`,
    [ticker, kind],
  );
  return rows[0];
}

export async function countJobsByStatus(db: Queryable): Promise<Array<{ kind: string; status: string; count: number }>> {
  const { rows } = await db.query(`SELECT kind, status, count(*)::int AS count FROM training_jobs GROUP BY kind, status`);
  return rows;
}
