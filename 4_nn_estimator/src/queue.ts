import { randomUUID } from 'node:crypto';
import PgBoss from 'pg-boss';
import type { Pool } from '@stocks/common';
import { jobs, type JobKind } from '@stocks/db';

/** One queue for all model work, so a worker never runs two TF.js fits at once. */
export const TRAINING_QUEUE = 'model-training';

export interface TrainingJobData {
  job_id: string;
  kind: JobKind;
  ticker: string;
  end_date?: string;
}

export interface QueueOptions {
  retryLimit: number;
  expireInSeconds: number;
}

export async function startQueue(databaseUrl: string, opts: QueueOptions, onError: (err: Error) => void): Promise<PgBoss> {
  const boss = new PgBoss({ connectionString: databaseUrl, schema: 'pgboss', application_name: 'nn_estimator-queue', max: 4 });
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

/**
 * Record the job and enqueue it in ONE transaction: a job row without queue entry (or the
 * reverse) can never exist, whatever fails in between.
 */
export async function submitJob(
  pool: Pool,
  boss: PgBoss,
  job: { kind: JobKind; ticker: string; params: { end_date?: string } },
  opts: QueueOptions,
): Promise<string> {
  const id = randomUUID();
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await jobs.createJob(client, { id, kind: job.kind, ticker: job.ticker, params: job.params });
    const data: TrainingJobData = { job_id: id, kind: job.kind, ticker: job.ticker, ...job.params };
    await boss.send(TRAINING_QUEUE, data, {
      id,
      retryLimit: opts.retryLimit,
      expireInSeconds: opts.expireInSeconds,
      db: { executeSql: (text, values) => client.query(text, values) },
    });
    await client.query('COMMIT');
    return id;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
