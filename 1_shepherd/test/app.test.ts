import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { trySessionLock } from '@stocks/db';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { buildApp } from '../src/app.ts';
import { type Peers, startPeers } from './support/peers.ts';
import { waitForRun } from './support/runs.ts';
import { loadShepherdEnv } from '../src/config.ts';

type App = Awaited<ReturnType<typeof buildApp>>;

/** The shepherd against a real loader (csv source) and a real estimator, in this process. */
describe('1_shepherd over HTTP', () => {
  let db: TestDatabase;
  let peers: Peers;
  let app: App;

  before(async () => {
    db = await createTestDatabase();
    peers = await startPeers(db, { TRAIN_EPOCHS: '1', MODEL_WINDOW: '20', MODEL_UNITS: '4', TRAIN_MAX_BARS: '400' });
    app = await buildApp({
      env: loadShepherdEnv({
        DATABASE_URL: db.url, WATCHLIST: 'MSFT,NOPE', LOAD_DATA_URL: peers.loaderUrl, ESTIMATOR_URL: peers.estimatorUrl, JOB_POLL_INTERVAL_MS: '100',
      }),
      pool: db.pool,
      logger: false,
    });
  });
  after(async () => {
    await app.close();
    await peers.close();
    await db.drop();
  });

  test('POST /run: one failing ticker does not stop the others; every step is recorded', async () => {
    const res = await app.inject({ method: 'POST', url: '/run' });
    assert.equal(res.statusCode, 202);
    const run = await waitForRun(app, res.json().run_id);
    assert.equal(run.status, 'partial');
    assert.equal(run.trigger, 'manual');
    const byTicker = (t: string) => run.steps.filter((s: { ticker: string }) => s.ticker === t);
    // The CSV ends 2023-12-29, before today: the initial ten years count back from that bar (a backfill).
    assert.deepEqual(byTicker('MSFT').map((s: { step: string; status: string }) => `${s.step}:${s.status}`), ['load:succeeded', 'backfill:succeeded', 'train:succeeded']);
    assert.equal(byTicker('MSFT')[1].detail.start_date, '2013-12-29');
    const nope = byTicker('NOPE');
    assert.deepEqual(nope.map((s: { step: string; status: string }) => `${s.step}:${s.status}`), ['load:failed']);
    assert.match(nope[0].error, /404/);
    assert.equal(typeof byTicker('MSFT')[2].detail.model_version, 'number');

    const list = (await app.inject('/runs')).json();
    assert.equal(list.runs[0].id, run.id);
  });

  test('a restarted shepherd reports the last run from the runs table, not 0', async () => {
    const { rows } = await db.pool.query(`SELECT max(finished_at) AS at FROM shepherd_runs`);
    assert.ok(rows[0].at, 'the previous test finished a run');
    const restarted = await buildApp({
      env: loadShepherdEnv({ DATABASE_URL: db.url, WATCHLIST: 'MSFT', LOAD_DATA_URL: peers.loaderUrl, ESTIMATOR_URL: peers.estimatorUrl }),
      pool: db.pool,
      logger: false,
    });
    try {
      const metrics = (await restarted.inject('/metrics')).body;
      const value = Number(/^shepherd_last_run_timestamp_seconds\{[^}]*\} (\S+)$/m.exec(metrics)?.[1]);
      assert.equal(value, rows[0].at.getTime() / 1000);
    } finally {
      await restarted.close();
    }
  });

  test('a ticker another shepherd holds is skipped, not worked on twice', async () => {
    const held = await trySessionLock(db.pool, 'shepherd-ticker', 'MSFT');
    assert.ok(held);
    try {
      const res = await app.inject({ method: 'POST', url: '/run', payload: { tickers: ['MSFT'] } });
      const run = await waitForRun(app, res.json().run_id);
      assert.deepEqual(run.steps.map((s: { step: string; status: string }) => `${s.step}:${s.status}`), ['lock:skipped']);
    } finally {
      await held.release();
    }
  });

  test('bad requests: unknown tickers and run ids', async () => {
    const res = await app.inject({ method: 'POST', url: '/run', payload: { tickers: ['TSLA'] } });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /WATCHLIST/);
    assert.equal((await app.inject('/runs/999999')).statusCode, 404);
    assert.equal((await app.inject('/runs/abc')).statusCode, 400);
    assert.equal((await app.inject('/runs?limit=0')).statusCode, 400);
  });

  test('metrics report runs and data freshness', async () => {
    const metrics = (await app.inject('/metrics')).body;
    assert.match(metrics, /shepherd_runs_total\{status="partial"/);
    assert.match(metrics, /data_freshness_trading_days\{ticker="MSFT"[^}]*\} \d+/);
    assert.equal((await app.inject('/health/ready')).statusCode, 200);
    assert.ok((await app.inject('/docs/json')).json().paths['/run']);
  });

  test('a bad WATCHLIST or cron is refused at boot', () => {
    assert.throws(() => loadShepherdEnv({ WATCHLIST: 'AAPL,bad ticker!' }), /WATCHLIST/);
    assert.throws(() => loadShepherdEnv({ SHEPHERD_CRON: 'every day' }), /SHEPHERD_CRON/);
  });
});
