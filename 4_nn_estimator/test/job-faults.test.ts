/**
 * Racing and doomed submits, redelivered and poison jobs, and the limits of POST /predict, over
 * real sockets against a real Postgres (generated prices: no files needed).
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type PgBoss from 'pg-boss';
import { type DailyBar, nextTradingDays } from '@stocks/common';
import { jobs, prices } from '@stocks/db';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { buildApp } from '../src/app.ts';
import { loadEstimatorEnv } from '../src/config.ts';
import { PREDICT_MAX_BARS } from '../src/schemas.ts';
import { startQueue, TRAINING_QUEUE } from '../src/training/queue.ts';

type App = Awaited<ReturnType<typeof buildApp>>;

/** A generated daily history of `n` trading days ending 2023-12-29. */
function bars(n: number): DailyBar[] {
  const dates: string[] = [];
  let d = '2016-01-04';
  dates.push(d);
  while (dates.length < n) { d = nextTradingDays('GEN', d, 1)[0]!; dates.push(d); }
  let close = 100;
  return dates.map((date, i) => {
    close *= 1 + 0.01 * Math.sin(i * 0.7);
    return { date, open: close, high: close * 1.01, low: close * 0.99, close, adj_close: close, volume: 1000 };
  });
}

const url = (app: App) => `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
const post = async (base: string, path: string, body: unknown) => {
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() as any };
};

describe('job submits and predict limits', () => {
  let db: TestDatabase;
  let boss: PgBoss;
  let api: App;
  let base: string;
  const history = bars(400);

  before(async () => {
    db = await createTestDatabase('stocks_job_faults');
    await prices.upsertPrices(db.pool, 'GEN', 'csv', history);
    boss = await startQueue(db.url, { retryLimit: 1, expireInSeconds: 600 }, () => {});
    // API only: jobs stay queued, so every submit races against the same queued job.
    const env = loadEstimatorEnv({ DATABASE_URL: db.url, ESTIMATOR_ROLE: 'api', MODEL_WINDOW: '20', PREDICT_RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_PER_MINUTE: '0' });
    api = await buildApp({ env, pool: db.pool, boss, backend: 'cpu', logger: false });
    await api.listen({ port: 0, host: '127.0.0.1' });
    base = url(api);
  });
  after(async () => {
    await api.close();
    await boss.stop({ graceful: false, wait: true });
    await db.drop();
  });

  test('20 concurrent POST /train answer one job id; other parameters get 409; a doomed end_date 422 at once', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(base, '/train', { ticker: 'GEN' })));
    for (const a of answers) assert.equal(a.status, 202, JSON.stringify(a.body));
    assert.equal(new Set(answers.map((a) => a.body.job_id)).size, 1, 'one job for all');
    const rows = (await db.pool.query(`SELECT count(*)::int AS n FROM training_jobs WHERE ticker = 'GEN' AND kind = 'train'`)).rows[0].n;
    assert.equal(rows, 1);
    const queued = (await db.pool.query(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1`, [TRAINING_QUEUE])).rows[0].n;
    assert.equal(queued, 1, 'one queue entry');

    const other = await post(base, '/train', { ticker: 'GEN', end_date: '2017-06-30' });
    assert.equal(other.status, 409, 'a job is reused only for the same parameters');
    assert.equal(other.body.details.job_id, answers[0]!.body.job_id);

    const doomed = await post(base, '/train', { ticker: 'GEN', end_date: '1901-01-01' });
    assert.equal(doomed.status, 422);
    assert.match(doomed.body.message, /0 stored bars up to 1901-01-01/);
  });

  test('POST /predict: inputs past the ranges are 400 naming the range; its own limit answers 429', async () => {
    const ok = history.slice(-60).map((b) => ({ date: b.date, close: b.close }));
    const cases: Array<[string, unknown]> = [
      ['close 1e200', [...ok.slice(0, -1), { date: ok.at(-1)!.date, close: 1e200 }]],
      ['close 1e-320', [...ok.slice(0, -1), { date: ok.at(-1)!.date, close: 1e-320 }]],
      ['year 9999', [...ok, { date: '9999-12-31', close: 100 }]],
      ['volume 1e21', [...ok.slice(0, -1), { ...ok.at(-1)!, volume: 1e21 }]],
      ['too many bars', bars(PREDICT_MAX_BARS + 1).map((b) => ({ date: b.date, close: b.close }))],
    ];
    for (const [what, body] of cases) {
      const r = await post(base, '/predict', { ticker: 'GEN', bars: body });
      assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.body).slice(0, 300)}`);
      assert.match(r.body.message, /at most|at least|future/, what);
    }
    // 5 requests were counted above; the limit is 5 a minute per client.
    const limited = await post(base, '/predict', { ticker: 'GEN', bars: ok });
    assert.equal(limited.status, 429);
    assert.match(limited.body.message, /forecasts a minute/);
  });

  test('/docs shows the numeric ranges', async () => {
    const spec = await (await fetch(`${base}/docs/json`)).json() as any;
    const bar = spec.paths['/predict'].post.requestBody.content['application/json'].schema.properties.bars;
    assert.equal(bar.maxItems, PREDICT_MAX_BARS);
    assert.equal(bar.items.properties.close.maximum, 1e9);
    assert.ok(bar.items.properties.close.minimum > 0);
  });
});

describe('the worker: redelivered and poison jobs', () => {
  let db: TestDatabase;
  let boss: PgBoss;
  let worker: App;
  let fits = 0;

  before(async () => {
    db = await createTestDatabase('stocks_job_worker');
    await prices.upsertPrices(db.pool, 'GEN', 'csv', bars(400));
    boss = await startQueue(db.url, { retryLimit: 1, expireInSeconds: 600 }, () => {});
    const env = loadEstimatorEnv({ DATABASE_URL: db.url, ESTIMATOR_ROLE: 'worker', MODEL_WINDOW: '20' });
    worker = await buildApp({
      env, pool: db.pool, boss, backend: 'cpu', logger: false,
      train: async () => { fits++; throw new Error('poisoned fit'); },
    });
  });
  after(async () => {
    await worker.close();
    await boss.stop({ graceful: false, wait: true });
    await db.drop();
  });

  async function finished(id: string) {
    for (let i = 0; i < 600; i++) {
      const job = await jobs.getJob(db.pool, id);
      if (job && (job.status === 'succeeded' || job.status === 'failed')) return job;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`job ${id} did not finish`);
  }

  test('a poison job is retried up to its limit, then failed; an impossible one fails at once', async () => {
    const { submitJob } = await import('../src/training/queue.ts');
    const poison = await submitJob(db.pool, boss, { kind: 'train', ticker: 'GEN', params: {} }, { retryLimit: 1, expireInSeconds: 600 });
    const job = await finished(poison.job_id);
    assert.equal(job.status, 'failed');
    assert.equal(job.attempts, 2, 'first attempt and one retry');
    assert.match(job.error!, /poisoned fit/);
    assert.equal(fits, 2);

    fits = 0;
    const doomed = await submitJob(db.pool, boss, { kind: 'train', ticker: 'GEN', params: { end_date: '1990-01-02' } }, { retryLimit: 1, expireInSeconds: 600 });
    const failed = await finished(doomed.job_id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.attempts, 1, 'an error that cannot go away is not retried');
    assert.equal(fits, 0);
  });

  test('a redelivered message of a job that already succeeded does not train again', async () => {
    const { submitJob } = await import('../src/training/queue.ts');
    fits = 0;
    // The job's result was committed, but its queue message comes back (worker died before acking).
    await worker.close();
    const done = await submitJob(db.pool, boss, { kind: 'fine-tune', ticker: 'GEN', params: {} }, { retryLimit: 1, expireInSeconds: 600 });
    await jobs.markJobRunning(db.pool, done.job_id, 'gone');
    await jobs.markJobSucceeded(db.pool, done.job_id, null);
    const env = loadEstimatorEnv({ DATABASE_URL: db.url, ESTIMATOR_ROLE: 'worker', MODEL_WINDOW: '20' });
    worker = await buildApp({ env, pool: db.pool, boss, backend: 'cpu', logger: false, train: async () => { fits++; throw new Error('must not run'); } });
    for (let i = 0; i < 100; i++) {
      const { rows } = await db.pool.query(`SELECT state FROM pgboss.job WHERE id = $1`, [done.job_id]);
      if (rows[0]?.state === 'completed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const { rows } = await db.pool.query(`SELECT state FROM pgboss.job WHERE id = $1`, [done.job_id]);
    assert.equal(rows[0].state, 'completed', 'the message was taken and acknowledged');
    assert.equal(fits, 0, 'no second fit');
    const job = await jobs.getJob(db.pool, done.job_id);
    assert.equal(job!.status, 'succeeded');
    assert.equal(job!.attempts, 1);
  });
});
