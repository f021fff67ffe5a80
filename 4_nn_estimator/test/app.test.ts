import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type PgBoss from 'pg-boss';
import { isTradingDay } from '@stocks/common';
import { prices } from '@stocks/db';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { readMarketData } from '../../test/support/market-data.ts';
import { buildApp } from '../src/app.ts';
import { loadEstimatorEnv } from '../src/config.ts';
import { initBackend } from '../src/training/backend.ts';
import { startQueue } from '../src/training/queue.ts';

type App = Awaited<ReturnType<typeof buildApp>>;

// Small, fast hyper-parameters: these tests check the contract, the bench checks quality.
const SMALL_MODEL = { TRAIN_EPOCHS: '2', MODEL_WINDOW: '20', MODEL_UNITS: '8', TRAIN_MAX_BARS: '600' };

describe('4_nn_estimator over HTTP', () => {
  let db: TestDatabase;
  let boss: PgBoss;
  let app: App;
  let backend: string;

  before(async () => {
    db = await createTestDatabase();
    await prices.upsertPrices(db.pool, 'AAPL', 'csv', await readMarketData('AAPL', 700));
    await prices.upsertPrices(db.pool, 'TINY', 'csv', (await readMarketData('MSFT', 10)));
    const env = loadEstimatorEnv({ DATABASE_URL: db.url, ...SMALL_MODEL });
    backend = await initBackend();
    boss = await startQueue(db.url, { retryLimit: 0, expireInSeconds: 600 }, () => {});
    app = await buildApp({ env, pool: db.pool, boss, backend, logger: false });
  });
  after(async () => {
    await app.close();
    await boss.stop({ graceful: false, wait: true });
    await db.drop();
  });

  async function waitForJob(id: string, timeoutMs = 120_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = (await app.inject(`/jobs/${id}`)).json();
      if (job.status === 'succeeded' || job.status === 'failed') return job;
      if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  test('before any model: predict is 404, fine-tune is 404, train without data is 404', async () => {
    const predict = await app.inject('/predict?ticker=AAPL');
    assert.equal(predict.statusCode, 404);
    assert.match(predict.json().message, /POST \/train/);
    const fineTune = await app.inject({ method: 'POST', url: '/fine-tune', payload: { ticker: 'AAPL' } });
    assert.equal(fineTune.statusCode, 404);
    const noData = await app.inject({ method: 'POST', url: '/train', payload: { ticker: 'NODATA' } });
    assert.equal(noData.statusCode, 404);
    assert.match(noData.json().message, /POST \/load/);
    const tooShort = await app.inject({ method: 'POST', url: '/train', payload: { ticker: 'TINY' } });
    assert.equal(tooShort.statusCode, 422);
    assert.match(tooShort.json().message, /at least \d+/);
  });

  test('bad requests are 400 with a message', async () => {
    for (const url of ['/predict?ticker=AAPL&horizon=31', '/predict?ticker=AAPL&horizon=0', '/predict?horizon=2', '/predict?ticker=a%20b', '/jobs/not-a-uuid', '/models']) {
      const res = await app.inject(url);
      assert.equal(res.statusCode, 400, url);
      assert.ok(res.json().message.length > 10, url);
    }
    const res = await app.inject({ method: 'POST', url: '/train', payload: { ticker: 'AAPL', end_date: '2020-02-30' } });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /end_date/);
    assert.equal((await app.inject('/jobs/00000000-0000-4000-8000-000000000000')).statusCode, 404);
  });

  let firstVersion: number;

  test('POST /train queues a job that trains a champion with metrics beside the naive baseline', async () => {
    const res = await app.inject({ method: 'POST', url: '/train', payload: { ticker: 'AAPL' } });
    assert.equal(res.statusCode, 202, res.body);
    const { job_id } = res.json();
    // A second request while the first is pending joins it instead of queueing another.
    const again = await app.inject({ method: 'POST', url: '/train', payload: { ticker: 'AAPL' } });
    assert.equal(again.json().job_id, job_id);

    const job = await waitForJob(job_id);
    assert.equal(job.status, 'succeeded', job.error);
    assert.equal(typeof job.model_version, 'number');
    firstVersion = job.model_version;

    const models = (await app.inject('/models?ticker=AAPL')).json();
    assert.equal(models.models.length, 1);
    const [m] = models.models;
    assert.equal(m.version, firstVersion);
    assert.equal(m.champion, true);
    for (const k of ['mae', 'rmse', 'mape'] as const) {
      assert.ok(Number.isFinite(m.metrics[k]) && m.metrics[k] > 0, `metrics.${k}`);
      assert.ok(Number.isFinite(m.baseline[k]) && m.baseline[k] > 0, `baseline.${k}`);
    }
    assert.equal(m.hyper_parameters.window, 20);
    assert.equal(m.backend, backend);
  });

  test('GET /predict returns the horizon on the next trading days, finite and positive', async () => {
    const res = await app.inject('/predict?ticker=aapl&horizon=5');
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.ticker, 'AAPL');
    assert.equal(body.model_version, firstVersion);
    assert.equal(body.backend, backend);
    assert.equal(body.last_date, '2023-12-29');
    assert.deepEqual(body.forecast.map((f: { date: string }) => f.date), ['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04', '2024-01-05']);
    for (const f of body.forecast) {
      assert.ok(isTradingDay('AAPL', f.date));
      assert.ok(Number.isFinite(f.close) && f.close > 0);
      // A day-to-week forecast of a large cap stays near the last close.
      assert.ok(Math.abs(f.close / 192.53 - 1) < 0.25, `forecast ${f.close} far from last close`);
    }
    assert.equal((await app.inject('/predict?ticker=AAPL')).json().forecast.length, 1);
  });

  test('POST /predict forecasts from client bars, and 422 when there are too few', async () => {
    const bars = (await readMarketData('AAPL', 120)).map((b) => ({ date: b.date, close: b.close, volume: b.volume }));
    const res = await app.inject({ method: 'POST', url: '/predict', payload: { ticker: 'AAPL', bars, horizon: 3 } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().forecast.length, 3);
    assert.equal(res.json().last_date, '2023-12-29');
    const fromStore = (await app.inject('/predict?ticker=AAPL&horizon=3')).json();
    // Same champion, same last bars: the same forecast whether the history is stored or sent.
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(res.json().forecast[i].close - fromStore.forecast[i].close) < 1e-6);

    const few = await app.inject({ method: 'POST', url: '/predict', payload: { ticker: 'AAPL', bars: bars.slice(-5) } });
    assert.equal(few.statusCode, 422);
    assert.match(few.json().message, /at least \d+ bars/);
    const unordered = await app.inject({ method: 'POST', url: '/predict', payload: { ticker: 'AAPL', bars: [...bars].reverse() } });
    assert.equal(unordered.statusCode, 400);
    const negative = await app.inject({ method: 'POST', url: '/predict', payload: { ticker: 'AAPL', bars: [{ date: '2020-01-02', close: -1 }] } });
    assert.equal(negative.statusCode, 400);
    const noModel = await app.inject({ method: 'POST', url: '/predict', payload: { ticker: 'MSFT', bars } });
    assert.equal(noModel.statusCode, 404);
  });

  test('fine-tune after new data makes a challenger, and forecasts keep flowing while it trains', async () => {
    await prices.upsertPrices(db.pool, 'AAPL', 'csv', [
      { date: '2024-01-02', open: 187.15, high: 188.44, low: 183.89, close: 185.64, adj_close: 185.64, volume: 82488700 },
      { date: '2024-01-03', open: 184.22, high: 185.88, low: 183.43, close: 184.25, adj_close: 184.25, volume: 58414500 },
    ]);
    const res = await app.inject({ method: 'POST', url: '/fine-tune', payload: { ticker: 'AAPL' } });
    assert.equal(res.statusCode, 202);
    let answered = 0;
    let job;
    do {
      const p = await app.inject('/predict?ticker=AAPL&horizon=2');
      assert.equal(p.statusCode, 200);
      answered++;
      job = (await app.inject(`/jobs/${res.json().job_id}`)).json();
      await new Promise((r) => setTimeout(r, 20));
    } while (job.status === 'queued' || job.status === 'running');
    assert.equal(job.status, 'succeeded', job.error);
    assert.ok(answered > 1, 'predictions were answered during the fine-tune');
    const models = (await app.inject('/models?ticker=AAPL')).json().models;
    assert.equal(models.length, 2);
    assert.equal(models[0].kind, 'fine-tune');
    assert.equal(models[0].parent_version, firstVersion);
    assert.equal(models.filter((m: { champion: boolean }) => m.champion).length, 1);
    assert.ok(models[0].status_reason.includes('champion'));
    // Whatever was decided, /predict serves the champion with the new last bar.
    const after = (await app.inject('/predict?ticker=AAPL')).json();
    assert.equal(after.model_version, models.find((m: { champion: boolean }) => m.champion).version);
    assert.equal(after.last_date, '2024-01-03');
  });

  test('health, metrics and docs', async () => {
    const ready = await app.inject('/health/ready');
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.json().backend, backend);
    const metrics = (await app.inject('/metrics')).body;
    assert.match(metrics, new RegExp(`tfjs_backend_info\\{backend="${backend}"`));
    assert.match(metrics, /model_champion_version\{ticker="AAPL"/);
    assert.match(metrics, /model_validation_mae\{ticker="AAPL",model="naive"/);
    assert.match(metrics, /training_jobs_total\{kind="train",status="succeeded"[^}]*\} 1\n/);
    assert.match(metrics, /tfjs_num_tensors/);
    const docs = (await app.inject('/docs/json')).json();
    for (const p of ['/train', '/fine-tune', '/jobs/{id}', '/models', '/predict']) assert.ok(docs.paths[p], p);
  });
});
