import { randomUUID } from 'node:crypto';
import PgBoss from 'pg-boss';
import { type Pool, withTransaction } from '@stocks/common';
import { jobs, type JobKind } from '@stocks/db';

/** One queue for all model work, so a worker never runs two TF.js fits at once. */
export const TRAINING_QUEUE = 'model-training';

export interface TrainingJobData {
  job_id: string;
  kind: JobKind;
  ticker: string;
  end_date?: string;
  /** Backtest jobs only. */
  origins?: number;
  horizon?: number;
  retrain_every?: number;
}

export type JobParams = Pick<TrainingJobData, 'end_date' | 'origins' | 'horizon' | 'retrain_every'>;

export interface QueueOptions {
  retryLimit: number;
  expireInSeconds: number;
}

export interface StartQueueOptions extends QueueOptions {
  /**
   * How often pg-boss's maintenance runs (one replica at a time): it is what fails an active job
   * whose lease (expireInSeconds) ran out because its worker died, so the retry waits for it.
   * Default pg-boss's 120 s; tests use 1 s with a short lease.
   */
  maintenanceIntervalSeconds?: number;
}

export async function startQueue(databaseUrl: string, opts: StartQueueOptions, onError: (err: Error) => void): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: databaseUrl,
    schema: 'pgboss',
    application_name: 'nn_estimator-queue',
    max: 4,
    ...(opts.maintenanceIntervalSeconds ? { maintenanceIntervalSeconds: opts.maintenanceIntervalSeconds } : {}),
  });
  boss.on('error', onError);
  await boss.start();
  if (!(await boss.getQueue(TRAINING_QUEUE))) {
    try {
      await boss.createQueue(TRAINING_QUEUE, {
        name: TRAINING_QUEUE,
        retryLimit: opts.retryLimit,
        retryDelay: 5,
        retryBackoff: true,
        expireInSeconds: opts.expireInSeconds,
      });
    } catch (err) {
      // Another replica created it first.
      if (!(await boss.getQueue(TRAINING_QUEUE))) throw err;
    }
  }
  return boss;
}

/** The job a submit answers with: the new one, or the same (ticker, kind) job already queued or running. */
export interface SubmittedJob {
  job_id: string;
  status: 'queued' | 'running';
  /** False when the submit joined the active job instead of creating one. */
  created: boolean;
  /** The parameters the job runs with (the active job's when it was joined). */
  params: Record<string, unknown>;
}

/**
 * Record the job and enqueue it in ONE transaction: a job row without queue entry (or the
 * reverse) can never exist, whatever fails in between. One queued or running job per (ticker,
 * kind), enforced by the database: concurrent submits all answer the one job. Whether a submit
 * with other parameters may join it is admission.ts's decision.
 */
export async function submitJob(
  pool: Pool,
  boss: PgBoss,
  job: { kind: JobKind; ticker: string; params: JobParams },
  opts: QueueOptions,
): Promise<SubmittedJob> {
  const id = randomUUID();
  const { job: row, created } = await withTransaction(pool, async (tx) => {
    const found = await jobs.createOrGetActiveJob(tx, { id, kind: job.kind, ticker: job.ticker, params: job.params });
    if (!found.created) return found;
    const data: TrainingJobData = { job_id: id, kind: job.kind, ticker: job.ticker, ...job.params };
    await boss.send(TRAINING_QUEUE, data, {
      id,
      retryLimit: opts.retryLimit,
      expireInSeconds: opts.expireInSeconds,
      db: { executeSql: (text, values) => tx.query(text, values) },
    });
    return found;
  });
  return { job_id: row.id, status: row.status as 'queued' | 'running', created, params: row.params };
}

/**
 * Hand an active job back to the queue without spending one of its retries (graceful shutdown:
 * the attempt was interrupted, not failed): its retry limit grows by one, then it is failed so
 * pg-boss schedules the retry (after retryDelay) for whichever worker fetches it first.
 */
export async function releaseJob(boss: PgBoss, jobId: string, reason: string): Promise<void> {
  await boss.getDb().executeSql(
    `UPDATE pgboss.job SET retry_limit = retry_limit + 1 WHERE name = $1 AND id = $2 AND state = 'active'`,
    [TRAINING_QUEUE, jobId],
  );
  await boss.fail(TRAINING_QUEUE, jobId, { message: reason });
}
