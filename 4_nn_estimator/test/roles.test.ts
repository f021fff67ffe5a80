import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type PgBoss from 'pg-boss';
import { jobs, prices } from '@stocks/db';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { readMarketData } from '../../test/support/market-data.ts';
import { buildApp } from '../src/app.ts';
import { loadEstimatorEnv } from '../src/config.ts';
import { initBackend } from '../src/training/backend.ts';
import { startQueue } from '../src/training/queue.ts';

/** ESTIMATOR_ROLE splits one image into API replicas and training workers. */
describe('estimator roles', () => {
  let db: TestDatabase;
  let boss: PgBoss;
  const env = (role: string) => loadEstimatorEnv({ DATABASE_URL: db.url, ESTIMATOR_ROLE: role, TRAIN_EPOCHS: '1', MODEL_WINDOW: '20', MODEL_UNITS: '4', TRAIN_MAX_BARS: '300' });

  before(async () => {
    db = await createTestDatabase();
    await prices.upsertPrices(db.pool, 'AAPL', 'csv', await readMarketData('AAPL', 300));
    boss = await startQueue(db.url, { retryLimit: 0, expireInSeconds: 600 }, () => {});
  });
  after(async () => {
    await boss.stop({ graceful: false, wait: true });
    await db.drop();
  });

  test('an API replica queues trainings but never runs them', async () => {
    const api = await buildApp({ env: env('api'), pool: db.pool, boss, backend: await initBackend(), logger: false });
    try {
      const { job_id } = (await api.inject({ method: 'POST', url: '/train', payload: { ticker: 'AAPL' } })).json();
      await new Promise((r) => setTimeout(r, 2_500));
      assert.equal((await jobs.getJob(db.pool, job_id))?.status, 'queued');
      assert.equal((await api.inject('/predict?ticker=AAPL')).statusCode, 404);
    } finally {
      await api.close();
    }
  });

  test('a worker replica runs the queued training, answers health and metrics, and serves no forecasts', async () => {
    const worker = await buildApp({ env: env('worker'), pool: db.pool, boss, backend: await initBackend(), logger: false });
    try {
      const queued = await db.pool.query<{ id: string }>(`SELECT id FROM training_jobs WHERE status <> 'succeeded'`);
      for (let i = 0; i < 300 && (await jobs.getJob(db.pool, queued.rows[0]!.id))?.status !== 'succeeded'; i++) {
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal((await jobs.getJob(db.pool, queued.rows[0]!.id))?.status, 'succeeded');
      assert.equal((await worker.inject('/health/ready')).json().role, 'worker');
      assert.match((await worker.inject('/metrics')).body, /training_jobs_total\{kind="train",status="succeeded"[^}]*\} 1\n/);
      // No forecast serving, so no champion is loaded and no change listener runs on a worker.
      assert.equal((await worker.inject('/predict?ticker=AAPL')).statusCode, 404);
      assert.equal(worker.changeListener, undefined);
    } finally {
      await worker.close();
    }
  });
});
