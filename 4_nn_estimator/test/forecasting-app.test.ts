// Issue #4 over HTTP: baselines in /models, intervals in /predict, promotion rule with a sabotaged
// fine-tune, promote / rollback / export, walk-forward backtests as jobs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type PgBoss from 'pg-boss';
import { prices } from '@stocks/db';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { readMarketData } from '../../test/support/market-data.ts';
import { buildApp } from '../src/app.ts';
import { loadEstimatorEnv } from '../src/config.ts';
import { initBackend } from '../src/training/backend.ts';
import { runBacktest } from '../src/model/backtest.ts';
import { forecast } from '../src/model/forecast.ts';
import type { Evaluation } from '../src/model/metrics.ts';
import { trainModel, type TrainInput } from '../src/model/train.ts';
import { startQueue } from '../src/training/queue.ts';

type App = Awaited<ReturnType<typeof buildApp>>;
const TOKEN = 'forecasting-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };

/** Make every error of an evaluation `factor` times larger. */
function worsen(e: Evaluation, factor: number): Evaluation {
  const scale = <T extends { mae: number; rmse: number; mape: number }>(m: T): T => ({ ...m, mae: m.mae * factor, rmse: m.rmse * factor, mape: m.mape * factor });
  return { ...scale(e), per_step: e.per_step.map(scale), all_steps: scale(e.all_steps) };
}

describe('4_nn_estimator: baselines, intervals, promotion, rollback, export, backtests', () => {
  let db: TestDatabase;
  let boss: PgBoss;
  let app: App;
  let sabotageFineTune = false;

  before(async () => {
    db = await createTestDatabase();
    await prices.upsertPrices(db.pool, 'AAPL', 'csv', await readMarketData('AAPL', 600));
    const env = loadEstimatorEnv({ DATABASE_URL: db.url, API_TOKEN: TOKEN, TRAIN_EPOCHS: '1', MODEL_WINDOW: '20', MODEL_UNITS: '8', TRAIN_MAX_BARS: '500' });
    const backend = await initBackend();
    boss = await startQueue(db.url, { retryLimit: 0, expireInSeconds: 600 }, () => {});
    // In-process fits keep this file fast; the worker-thread path is covered by app.test.ts.
    const train = async (input: TrainInput) => {
      const result = await trainModel(input);
      if (!(sabotageFineTune && input.warmStart && result.championMetricsOnSameWindow)) return result;
      // A fine-tune made worse on purpose: a huge learning rate, and its errors inflated by 50%
      // over the champion's on the same window, so the rule must keep it out.
      const wrecked = await trainModel({ ...input, config: { ...input.config, fineTuneLearningRate: 1, fineTuneEpochs: 2 } });
      return { ...wrecked, metrics: worsen(result.championMetricsOnSameWindow, 1.5) };
    };
    app = await buildApp({ env, pool: db.pool, boss, backend, logger: false, train, backtest: (input) => runBacktest(input) });
  });
  after(async () => {
    await app.close();
    await boss.stop({ graceful: false, wait: true });
    await db.drop();
  });

  async function waitForJob(id: string, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = (await app.inject(`/jobs/${id}`)).json();
      if (job.status === 'succeeded' || job.status === 'failed') return job;
      if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  async function post(url: string, payload?: object) {
    return app.inject({ method: 'POST', url, headers: auth, ...(payload ? { payload } : {}) });
  }
  async function trainVersion(): Promise<number> {
    const res = await post('/train', { ticker: 'AAPL' });
    assert.equal(res.statusCode, 202, res.body);
    const job = await waitForJob(res.json().job_id);
    assert.equal(job.status, 'succeeded', job.error);
    return job.model_version;
  }
  /** /predict after a champion change: the NOTIFY reaches the cache asynchronously. */
  async function servedVersion(expected: number): Promise<number> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const v = (await app.inject('/predict?ticker=AAPL')).json().model_version;
      if (v === expected || Date.now() > deadline) return v;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  let v1: number;
  let v2: number;

  test('/models shows the model beside naive, drift and moving average with MASE; /predict has intervals, alpha and skill', async () => {
    v1 = await trainVersion();
    const [m] = (await app.inject('/models?ticker=AAPL')).json().models;
    assert.equal(m.version, v1);
    for (const name of ['naive', 'drift', 'moving_average']) {
      for (const k of ['mae', 'rmse', 'mape', 'mase', 'mase_all_steps']) assert.ok(Number.isFinite(m.baselines[name][k]), `${name}.${k}`);
    }
    assert.equal(m.baselines.naive.mase, 1);
    assert.ok(Math.abs(m.metrics.mase - m.metrics.mae / m.baselines.naive.mae) < 1e-12);
    assert.ok(Math.abs(m.skill_vs_naive - (1 - m.metrics.mase)) < 1e-9);
    assert.deepEqual(m.intervals.levels, [80, 95]);

    const res = await app.inject('/predict?ticker=AAPL&horizon=5');
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.alpha, m.alpha);
    assert.equal(body.skill_vs_naive, m.skill_vs_naive);
    let previousWidth = 0;
    for (const f of body.forecast) {
      assert.ok(f.lower95 <= f.lower80 && f.lower80 <= f.close && f.close <= f.upper80 && f.upper80 <= f.upper95, JSON.stringify(f));
      assert.ok(f.upper95 - f.lower95 >= previousWidth, 'bands never narrow with the horizon');
      previousWidth = f.upper95 - f.lower95;
    }
    // The band models read the whole stored history (ranges included): the same bars posted give the same bands.
    const bars = (await readMarketData('AAPL', 600)).map((b) => ({ date: b.date, open: b.open, high: b.high, low: b.low, close: b.close }));
    const posted = (await post('/predict', { ticker: 'AAPL', bars, horizon: 5 })).json();
    assert.deepEqual(posted.forecast, body.forecast, 'POST /predict carries the same intervals');
    assert.equal(posted.interval_model, body.interval_model);
  });

  test('interval_model: the served band model is named, and any of static / ewma / garch / model can be asked for', async () => {
    const [m] = (await app.inject('/models?ticker=AAPL')).json().models;
    assert.ok(['static', 'ewma', 'garch', 'model'].includes(m.interval_skill.served));
    for (const name of ['static', 'ewma', 'garch', 'model']) {
      assert.ok(Number.isFinite(m.interval_skill.per_model[name]['1'].interval_score95), `${name} scored on validation`);
      assert.ok(Number.isFinite(m.interval_skill.per_model[name]['5'].coverage80), `${name} coverage`);
      const p = m.interval_skill.per_model[name]['5'].coverage95_p;
      assert.ok(p >= 0 && p <= 1, `${name} calibration test`);
    }
    assert.ok(m.interval_skill.windows.n >= 20 && m.interval_skill.windows.end <= m.validation_range.end);
    assert.equal(typeof m.interval_skill.model_vs_ewma_p.qlike_step1, 'number');
    // Why a baseline other than EWMA is (or is not) served: its own one-sided p-values against EWMA.
    for (const name of ['garch', 'static']) assert.equal(typeof m.interval_skill.baselines_vs_ewma_p[name].is95_step5, 'number', name);
    if (m.interval_skill.served === 'garch' || m.interval_skill.served === 'static') {
      assert.ok(Object.values(m.interval_skill.baselines_vs_ewma_p[m.interval_skill.served]).some((p) => (p as number) < 0.05));
    }
    if (m.interval_skill.served === 'model') assert.ok(Object.values(m.interval_skill.model_vs_ewma_p).some((p) => (p as number) < 0.05));

    const served = (await app.inject('/predict?ticker=AAPL&horizon=5')).json();
    assert.equal(served.interval_model, m.interval_skill.served);
    const widths: Record<string, number> = {};
    for (const name of ['static', 'ewma', 'garch', 'model']) {
      const res = await app.inject(`/predict?ticker=AAPL&horizon=5&interval_model=${name}`);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.interval_model, name);
      assert.deepEqual(body.forecast.map((f: { close: number }) => f.close), served.forecast.map((f: { close: number }) => f.close), 'same points, other bands');
      widths[name] = body.forecast[4].upper95 - body.forecast[4].lower95;
      if (name === served.interval_model) assert.deepEqual(body.forecast, served.forecast);
    }
    assert.ok(new Set(Object.values(widths)).size > 1, `the band models draw different bands: ${JSON.stringify(widths)}`);
    const bars = (await readMarketData('AAPL', 600)).map((b) => ({ date: b.date, open: b.open, high: b.high, low: b.low, close: b.close }));
    const posted = await post('/predict', { ticker: 'AAPL', bars, horizon: 5, interval_model: 'garch' });
    assert.equal(posted.statusCode, 200, posted.body);
    assert.equal(posted.json().interval_model, 'garch');
    const bad = await app.inject('/predict?ticker=AAPL&interval_model=lstm');
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().message ?? bad.body, /interval_model/);
  });

  test('POST /fine-tune with no bar after the champion\'s last one: 409 naming the champion, nothing saved or promoted', async () => {
    const before = (await app.inject('/models?ticker=AAPL')).json().models;
    const res = await post('/fine-tune', { ticker: 'AAPL' });
    assert.equal(res.statusCode, 409, res.body);
    assert.equal(res.json().details.champion_version, v1);
    assert.match(res.json().message, /stays the champion/);
    assert.deepEqual((await app.inject('/models?ticker=AAPL')).json().models.map((m: { version: number }) => m.version), before.map((m: { version: number }) => m.version));
  });

  test('a fine-tune made worse on purpose stays out: rejected with the MASE reason, champion and forecasts unchanged', async () => {
    await prices.upsertPrices(db.pool, 'AAPL', 'csv', [
      { date: '2024-01-02', open: 187.15, high: 188.44, low: 183.89, close: 185.64, adj_close: 185.64, volume: 82488700 },
    ]);
    sabotageFineTune = true;
    try {
      const res = await post('/fine-tune', { ticker: 'AAPL' });
      assert.equal(res.statusCode, 202);
      const job = await waitForJob(res.json().job_id);
      assert.equal(job.status, 'succeeded', job.error);
      const [challenger, champion] = (await app.inject('/models?ticker=AAPL')).json().models;
      assert.equal(challenger.version, job.model_version);
      assert.equal(challenger.status, 'rejected');
      assert.equal(challenger.champion, false);
      assert.match(challenger.status_reason, /fine-tune worse than champion on .*: MASE [\d.]+ > [\d.]+/);
      // The two versions were validated on different windows, and /models says so.
      assert.match((await app.inject('/models?ticker=AAPL')).json().metrics_windows, /2 different windows/);
      assert.equal(champion.version, v1);
      assert.equal(champion.champion, true);
      assert.equal((await app.inject('/predict?ticker=AAPL')).json().model_version, v1);
      const events = await db.pool.query(`SELECT action FROM model_events WHERE version = $1`, [challenger.version]);
      assert.deepEqual(events.rows.map((r) => r.action), ['reject']);
    } finally {
      sabotageFineTune = false;
    }
  });

  test('rollback returns to the previous champion, promote picks any version; both recorded, token required', async () => {
    v2 = await trainVersion(); // a full training replaces the champion
    assert.equal(await servedVersion(v2), v2);

    assert.equal((await app.inject({ method: 'POST', url: '/models/rollback', payload: { ticker: 'AAPL' } })).statusCode, 401);
    const back = await post('/models/rollback', { ticker: 'AAPL' });
    assert.equal(back.statusCode, 200, back.body);
    assert.deepEqual(back.json(), { ticker: 'AAPL', champion_version: v1, previous_version: v2, action: 'rollback' });
    assert.equal(await servedVersion(v1), v1, 'every replica reloads after the NOTIFY');

    const promote = await post(`/models/${v2}/promote`);
    assert.equal(promote.statusCode, 200, promote.body);
    assert.equal(promote.json().champion_version, v2);
    assert.equal(await servedVersion(v2), v2);
    assert.equal((await post(`/models/${v2}/promote`)).statusCode, 409);
    const missing = await post('/models/999999/promote');
    assert.equal(missing.statusCode, 404);
    assert.match(missing.json().message, /GET \/models/);
    assert.equal((await post('/models/abc/promote')).statusCode, 400);
    assert.equal((await post('/models/rollback', { ticker: 'MSFT' })).statusCode, 404);

    const events = await db.pool.query(`SELECT version, action FROM model_events WHERE ticker = 'AAPL' ORDER BY id`);
    assert.deepEqual(events.rows.slice(-2).map((r) => [r.version, r.action]), [[v1, 'rollback'], [v2, 'manual-promote']]);
    const models = (await app.inject('/models?ticker=AAPL')).json().models;
    assert.equal(models.filter((m: { champion: boolean }) => m.champion).length, 1);
  });

  test('GET /models/:version/export loads with tf.loadLayersModel and forecasts like /predict', async () => {
    const res = await app.inject(`/models/${v2}/export`);
    assert.equal(res.statusCode, 200);
    const { modelJson, weightsBase64, scaler, metadata } = res.json();
    const weights = Uint8Array.from(Buffer.from(weightsBase64, 'base64')).buffer;
    const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest[0].weights, weightData: weights }));
    try {
      const bars = await prices.getRecentPrices(db.pool, 'AAPL', 200);
      const mine = forecast(model, scaler, metadata.config, metadata.alpha, bars, 5);
      const served = (await app.inject('/predict?ticker=AAPL&horizon=5')).json();
      assert.equal(served.model_version, v2);
      served.forecast.forEach((f: { close: number }, i: number) => assert.ok(Math.abs(f.close - mine[i]!) < 1e-9));
    } finally {
      model.dispose();
    }
    assert.equal((await app.inject('/models/999999/export')).statusCode, 404);
  });

  test('POST /backtest runs as a job; results listed with aggregates per forecaster and coverage', async () => {
    assert.equal((await post('/backtest', { ticker: 'AAPL', origins: 0 })).statusCode, 400);
    const tooMany = await post('/backtest', { ticker: 'AAPL', origins: 500, horizon: 5 });
    assert.equal(tooMany.statusCode, 422);
    assert.match(tooMany.json().message, /fewer origins/);
    assert.equal((await post('/backtest', { ticker: 'NODATA' })).statusCode, 404);

    const res = await post('/backtest', { ticker: 'AAPL', origins: 3, horizon: 3, retrain_every: 2 });
    assert.equal(res.statusCode, 202, res.body);
    const job = await waitForJob(res.json().job_id);
    assert.equal(job.status, 'succeeded', job.error);
    assert.equal(job.kind, 'backtest');
    assert.equal(typeof job.backtest_id, 'number');

    const list = (await app.inject('/backtests?ticker=AAPL')).json();
    assert.equal(list.backtests.length, 1);
    const [b] = list.backtests;
    assert.equal(b.id, job.backtest_id);
    assert.equal(b.n_origins, 3);
    assert.equal(b.retrains, 2);
    assert.equal(b.last_origin, '2023-12-27', 'the last origin with 3 targets before 2024-01-02');
    for (const name of ['model', 'naive', 'drift', 'moving_average']) assert.ok(Number.isFinite(b.aggregates[name].mase), name);
    assert.equal(b.aggregates.naive.mase, 1);
    assert.ok(b.coverage['80'] >= 0 && b.coverage['95'] <= 1);
    assert.equal(b.per_origin, undefined, 'the list leaves out the per-origin detail');
    // Band scores per step, the served bands beside static / EWMA / GARCH with DM p-values.
    assert.equal(b.bands.per_step.length, 3);
    for (const s of b.bands.per_step) {
      for (const name of ['model', 'static', 'ewma', 'garch']) assert.ok(Number.isFinite(s.models[name].interval_score95) && Number.isFinite(s.models[name].qlike), `${name} step ${s.step}`);
      for (const name of ['static', 'ewma', 'garch']) assert.ok(s.dm[name].is80.two_sided >= 0 && s.dm[name].is80.two_sided <= 1, name);
    }

    const detail = (await app.inject(`/backtests/${b.id}`)).json();
    assert.equal(detail.per_origin.length, 3);
    assert.equal(detail.per_origin[0].forecasts.model.length, 3);
    assert.equal(detail.per_origin[0].baseline_intervals.garch.upper95.length, 3);
    assert.equal((await app.inject('/backtests/424242')).statusCode, 404);
    assert.equal((await app.inject('/backtests')).statusCode, 400);
    const docs = (await app.inject('/docs/json')).json();
    for (const p of ['/backtest', '/backtests', '/backtests/{id}', '/models/{version}/promote', '/models/rollback', '/models/{version}/export']) assert.ok(docs.paths[p], p);
  });
});
