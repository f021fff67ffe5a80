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

/**
 * Record a job unless one of the same (ticker, kind) is queued or running: the partial unique
 * index `training_jobs_one_active` makes N concurrent submits insert one row, and every other
 * caller gets that row back (`created` false) to answer its id or refuse other parameters.
 */
export async function createOrGetActiveJob(
  db: Queryable,
  job: { id: string; kind: JobKind; ticker: string; params: Record<string, unknown> },
): Promise<{ job: JobRow; created: boolean }> {
  for (;;) {
    const { rows } = await db.query<JobRow>(
      `INSERT INTO training_jobs (id, kind, ticker, params) VALUES ($1, $2, $3, $4)
       ON CONFLICT (ticker, kind) WHERE status IN ('queued', 'running') DO NOTHING RETURNING *`,
      [job.id, job.kind, job.ticker, JSON.stringify(job.params)],
    );
    if (rows[0]) return { job: rows[0], created: true };
    const active = await findActiveJob(db, job.ticker, job.kind);
    if (active) return { job: active, created: false };
    // The active one finished between the two statements: try the insert again.
  }
}

export async function getJob(db: Queryable, id: string): Promise<JobRow | undefined> {
  const { rows } = await db.query<JobRow>(`SELECT * FROM training_jobs WHERE id = $1`, [id]);
  return rows[0];
}

/**
 * Which attempt of a job a worker owns: returned by markJobRunning, checked when the attempt
 * writes its outcome, so an attempt that outlived its lease (another worker took the job over)
 * can never record a result.
 */
export interface JobFence {
  worker: string;
  attempt: number;
}

/** The attempt lost its job to another worker (lease expired): its result must not be stored. */
export class JobLostError extends Error {
  override readonly name = 'JobLostError';
}

/**
 * Take the job for an attempt. Only a queued or running job can be taken: a redelivered message
 * of a job that already succeeded or failed for good gets undefined, and must not run again.
 */
export async function markJobRunning(db: Queryable, id: string, worker: string): Promise<JobFence | undefined> {
  const { rows } = await db.query<{ attempts: number }>(
    `UPDATE training_jobs SET status = 'running', started_at = now(), attempts = attempts + 1, worker = $2, error = NULL
      WHERE id = $1 AND status IN ('queued', 'running') RETURNING attempts`,
    [id, worker],
  );
  return rows[0] ? { worker, attempt: rows[0].attempts } : undefined;
}

export async function markJobSucceeded(db: Queryable, id: string, modelVersion: number | null, fence?: JobFence): Promise<void> {
  const { rowCount } = await db.query(
    `UPDATE training_jobs SET status = 'succeeded', model_version = $2, finished_at = now(), error = NULL
      WHERE id = $1 ${fence ? `AND status = 'running' AND worker = $3 AND attempts = $4` : ''}`,
    fence ? [id, modelVersion, fence.worker, fence.attempt] : [id, modelVersion],
  );
  if (fence && rowCount === 0) {
    throw new JobLostError(`job ${id}: attempt ${fence.attempt} by ${fence.worker} no longer owns the job; its result is discarded`);
  }
}

/**
 * `final` false means the queue will retry: the job goes back to queued with the last error kept.
 * With a fence, only the attempt that still owns the job can write (a late one changes nothing).
 */
export async function markJobFailed(db: Queryable, id: string, error: string, final: boolean, fence?: JobFence): Promise<void> {
  const params: unknown[] = [id, final ? 'failed' : 'queued', error.slice(0, 2000)];
  await db.query(
    `UPDATE training_jobs SET status = $2, error = $3, finished_at = CASE WHEN $2 = 'failed' THEN now() END
      WHERE id = $1 ${fence ? `AND status = 'running' AND worker = $4 AND attempts = $5` : ''}`,
    fence ? [...params, fence.worker, fence.attempt] : params,
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
