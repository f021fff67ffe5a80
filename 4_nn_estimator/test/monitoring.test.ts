import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type PgBoss from 'pg-boss';
import { prices } from '@stocks/db';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { readMarketData } from '../../test/support/market-data.ts';
import { buildApp } from '../src/app.ts';
import { loadEstimatorEnv } from '../src/config.ts';
import { initBackend } from '../src/training/backend.ts';
import { ksTwoSample, kolmogorovSurvival, logReturns, psi, returnsDrift } from '../src/monitoring/drift.ts';
import { startQueue } from '../src/training/queue.ts';

type App = Awaited<ReturnType<typeof buildApp>>;
const SMALL_MODEL = { TRAIN_EPOCHS: '1', MODEL_WINDOW: '20', MODEL_UNITS: '8', TRAIN_MAX_BARS: '400' };
const close = (a: number, b: number, tol = 1e-9) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

describe('drift of daily returns (pure)', () => {
  test('KS against known values of the Kolmogorov distribution', () => {
    assert.ok(close(kolmogorovSurvival(1.3581), 0.05, 1e-3));
    assert.ok(close(kolmogorovSurvival(1.6276), 0.01, 1e-3));
    const same = ksTwoSample([1, 2, 3, 4], [1, 2, 3, 4]);
    assert.equal(same.statistic, 0);
    assert.equal(same.p_value, 1);
    // Disjoint samples: D = 1.
    assert.equal(ksTwoSample([1, 2, 3], [4, 5, 6, 7]).statistic, 1);
    // Ties across samples are handled as steps of both CDFs.
    assert.equal(ksTwoSample([1, 1, 2, 2], [1, 2]).statistic, 0);
    assert.ok(close(ksTwoSample([0, 1, 2, 3], [2, 3, 4, 5]).statistic, 0.5));
  });

  test('PSI is ~0 for the same distribution and grows with a shift', () => {
    const xs = Array.from({ length: 1000 }, (_, i) => Math.sin(i * 12.9898) * 0.02);
    assert.ok(psi(xs, xs) < 1e-9);
    assert.ok(psi(xs, xs.map((x) => x * 3)) > 0.5);
  });

  test('real data: AAPL in the 2020 crash drifts from its 2018-2019 returns; a calm 2019 quarter does not', async () => {
    const bars = await readMarketData('AAPL');
    const between = (from: string, to: string) => bars.filter((b) => b.date >= from && b.date <= to).map((b) => b.close);
    const reference = between('2018-01-01', '2019-12-31');
    const crash = returnsDrift({ reference, recent: between('2020-01-21', '2020-04-17'), threshold: 0.01 })!;
    assert.equal(crash.detected, true, JSON.stringify(crash));
    assert.ok(crash.recent_volatility > 2 * crash.reference_volatility);
    const calm = returnsDrift({ reference, recent: between('2019-08-01', '2019-10-31'), threshold: 0.01 })!;
    assert.equal(calm.detected, false, JSON.stringify(calm));
    // Prices would "drift" between any two years; returns are what is compared.
    assert.equal(logReturns([100, 110, 99]).length, 2);
    assert.equal(returnsDrift({ reference: reference.slice(0, 30), recent: between('2020-01-21', '2020-04-17'), threshold: 0.01 }), undefined);
  });
});

describe('live monitoring over HTTP (real AAPL bars, actuals arriving after the forecast)', () => {
  let db: TestDatabase;
  let boss: PgBoss;
  let app: App;
  let all: Awaited<ReturnType<typeof readMarketData>>;
  const ORIGIN = '2023-11-24';
  /** Monitoring reports computed (each costs several queries). */
  let reportCalls = 0;

  before(async () => {
    db = await createTestDatabase();
    all = await readMarketData('AAPL');
    await prices.upsertPrices(db.pool, 'AAPL', 'csv', all.filter((b) => b.date <= ORIGIN).slice(-450));
    boss = await startQueue(db.url, { retryLimit: 0, expireInSeconds: 600 }, () => {});
    const env = loadEstimatorEnv({ DATABASE_URL: db.url, ...SMALL_MODEL, LIVE_MIN_REALISED: '3' });
    app = await buildApp({ env, pool: db.pool, boss, backend: await initBackend(), logger: false });
    const report = app.monitor.report.bind(app.monitor);
    app.monitor.report = (ticker) => {
      reportCalls++;
      return report(ticker);
    };
    const res = await app.inject({ method: 'POST', url: '/train', payload: { ticker: 'AAPL' } });
    for (;;) {
      const job = (await app.inject(`/jobs/${res.json().job_id}`)).json();
      if (job.status === 'succeeded') break;
      if (job.status === 'failed') throw new Error(job.error);
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  after(async () => {
    await app?.close();
    await boss?.stop({ graceful: false, wait: true });
    await db?.drop();
  });

  const rows = async () => (await db.pool.query('SELECT * FROM served_forecasts ORDER BY target_date')).rows;

  test('a served forecast is stored once, then realised exactly when the actual closes are loaded', async () => {
    const predict = await app.inject('/predict?ticker=AAPL&horizon=5');
    assert.equal(predict.statusCode, 200, predict.body);
    const served = predict.json();
    assert.equal(served.last_date, ORIGIN);
    await app.monitor.flush();
    let stored = await rows();
    assert.deepEqual(stored.map((r) => r.target_date), served.forecast.map((f: { date: string }) => f.date));
    assert.deepEqual(stored.map((r) => r.step), [1, 2, 3, 4, 5]);
    const originClose = all.find((b) => b.date === ORIGIN)!.close;
    for (const [i, r] of stored.entries()) {
      assert.equal(r.value, served.forecast[i].close);
      assert.equal(r.naive_value, originClose);
      assert.equal(r.actual, null);
      assert.equal(r.lower80, served.forecast[i].lower80 ?? null);
    }

    // The same forecast again (and a shorter one): answered, nothing written.
    for (const h of [5, 3, 5]) assert.equal((await app.inject(`/predict?ticker=AAPL&horizon=${h}`)).statusCode, 200);
    await app.monitor.flush();
    // Read from the registry, not GET /metrics: a scrape would cache the gauges' reports for a second.
    const writes = await app.registry.getSingleMetric('served_forecast_writes_total')!.get();
    assert.deepEqual(writes.values.map((v) => [v.labels.outcome, v.value]), [['stored', 1]], 'one database write for one (ticker, version, origin)');
    assert.equal((await rows()).length, 5);

    // Actuals arrive later: the next 5 real bars.
    const next = all.filter((b) => b.date > ORIGIN).slice(0, 5);
    assert.deepEqual(next.map((b) => b.date), stored.map((r) => r.target_date), 'the calendar forecast the real trading days');
    await prices.upsertPrices(db.pool, 'AAPL', 'csv', next);
    stored = await rows();
    for (const [i, r] of stored.entries()) {
      assert.equal(r.actual, next[i]!.close);
      assert.ok(close(r.abs_error, Math.abs(served.forecast[i].close - next[i]!.close)));
      assert.ok(close(r.naive_abs_error, Math.abs(originClose - next[i]!.close)));
    }

    const forecasts = (await app.inject('/forecasts?ticker=AAPL&step=1')).json();
    assert.equal(forecasts.forecasts.length, 1);
    assert.equal(forecasts.forecasts[0].actual, next[0]!.close);

    const mon = await app.inject('/monitoring?ticker=AAPL');
    assert.equal(mon.statusCode, 200, mon.body);
    const report = mon.json();
    assert.equal(report.as_of, next.at(-1)!.date);
    assert.equal(report.champion_version, served.model_version);
    const mae = stored.reduce((s, r) => s + r.abs_error, 0) / 5;
    const naiveMae = stored.reduce((s, r) => s + r.naive_abs_error, 0) / 5;
    const mape = (100 * stored.reduce((s, r) => s + r.abs_error / r.actual, 0)) / 5;
    assert.deepEqual(report.live.map((r: { window: string }) => r.window), ['20d', '60d', 'all']);
    for (const row of report.live) {
      assert.equal(row.model_version, served.model_version);
      assert.equal(row.champion, true);
      assert.equal(row.n, 5);
      assert.ok(close(row.mae, mae) && close(row.naive_mae, naiveMae) && close(row.mape, mape), JSON.stringify(row));
      assert.ok(close(row.skill_vs_naive, 1 - mae / naiveMae));
      if (served.forecast[0].lower80 !== undefined) {
        const inside = stored.filter((r) => r.actual >= r.lower80 && r.actual <= r.upper80).length / 5;
        assert.ok(close(row.coverage80, inside));
      } else {
        assert.equal(row.coverage80, null);
      }
    }
    assert.equal(report.champion_live.n, 5);
    assert.equal(report.champion_live.worse_than_naive, mae > naiveMae);
    assert.equal(report.retrain.full_retrain_advised, report.drift.detected || mae > naiveMae);
    assert.equal(report.drift.method, 'ks_returns');
    assert.equal(report.drift.threshold, 0.01);
    assert.equal(report.drift.n_recent, 60);
    assert.ok(report.drift.p_value > 0 && report.drift.p_value <= 1);

    // The gauges follow the price change announced by Postgres, not the scrape.
    await app.monitoringGauges.settled();
    const refreshes = app.monitoringGauges.refreshes;
    const reportsBefore = reportCalls;
    const metrics = (await app.inject('/metrics')).body;
    for (let i = 0; i < 5; i++) await app.inject('/metrics');
    assert.equal(reportCalls - reportsBefore, 0, 'a scrape computes no monitoring report');
    assert.equal(app.monitoringGauges.refreshes, refreshes);
    const gauge = (name: string, labels: string) => Number(new RegExp(`^${name}\\{${labels}[^}]*\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
    const v = `ticker="AAPL",version="${served.model_version}",window="20d"`;
    assert.ok(close(gauge('live_forecast_mae', `${v},model="model"`), mae, 1e-6), metrics);
    assert.ok(close(gauge('live_forecast_mae', `${v},model="naive"`), naiveMae, 1e-6));
    assert.equal(gauge('live_forecasts_realised', v), 5);
    assert.ok(close(gauge('returns_drift_p_value', 'ticker="AAPL"'), report.drift.p_value, 1e-6));
    assert.equal(gauge('returns_drift_detected', 'ticker="AAPL"'), report.drift.detected ? 1 : 0);
    assert.equal(gauge('live_champion_worse_than_naive', 'ticker="AAPL"'), mae > naiveMae ? 1 : 0);
    assert.equal(gauge('served_forecast_points_recorded_total', ''), 5);
  });

  test('read-only endpoints for the page, documented, with 400/404', async () => {
    const tickers = (await app.inject('/tickers')).json().tickers;
    assert.equal(tickers.length, 1);
    assert.equal(tickers[0].ticker, 'AAPL');
    assert.equal(tickers[0].rows, 455);
    assert.ok(tickers[0].stale_trading_days > 0);
    assert.equal(typeof tickers[0].champion_version, 'number');
    const p = (await app.inject('/prices?ticker=aapl&days=30')).json();
    assert.equal(p.prices.length, 30);
    assert.ok(p.prices[0].date < p.prices[29].date);
    const jobs = (await app.inject('/jobs?ticker=AAPL')).json().jobs;
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0].status, 'succeeded');
    for (const url of ['/prices?ticker=NOPE', '/monitoring?ticker=NOPE']) assert.equal((await app.inject(url)).statusCode, 404, url);
    for (const url of ['/prices?ticker=AAPL&days=0', '/monitoring', '/forecasts?ticker=a%20b', '/jobs?ticker=AAPL&limit=x']) {
      const res = await app.inject(url);
      assert.equal(res.statusCode, 400, url);
      assert.ok(res.json().message.length > 5);
    }
    const docs = (await app.inject('/docs/json')).json();
    for (const path of ['/monitoring', '/tickers', '/prices', '/forecasts', '/jobs']) assert.ok(docs.paths[path], path);
    assert.equal(docs.paths['/'], undefined, 'the page is not an API route');
  });

  test('the page and its static files are served, the chart library from node_modules', async () => {
    const page = await app.inject('/');
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /text\/html/);
    assert.match(page.body, /\/vendor\/uplot\/uPlot\.min\.css/);
    const js = await app.inject('/assets/app.js');
    assert.equal(js.statusCode, 200);
    assert.match(js.headers['content-type'] as string, /javascript/);
    const lib = await app.inject('/vendor/uplot/uPlot.esm.js');
    assert.equal(lib.statusCode, 200);
    assert.match(lib.body, /export default uPlot|export \{/);
    assert.equal((await app.inject('/vendor/uplot/package.json')).statusCode, 404);
    assert.equal((await app.inject('/assets/../package.json')).statusCode, 404);
  });
});
