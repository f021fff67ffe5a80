import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isTradingDay } from '@stocks/common';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { MARKET_DATA_DIR } from './support/market-data.ts';
import { freePort } from './support/private-postgres.ts';
import { getJson, type RunningService, startService, stopService } from './support/stack.ts';

/**
 * The product end to end as separate processes: the shepherd's startup run loads two tickers
 * from a folder of Yahoo CSVs through 2_load_data, has 4_nn_estimator train them, and
 * /predict answers. Ports are free ones the system hands out, so a stack started with `npm start` (or another
 * checkout's tests) can keep running.
 */
describe('the stack end to end (csv source, two tickers)', () => {
  let db: TestDatabase;
  const services: RunningService[] = [];
  const ports = { load_data: 0, nn_estimator: 0, shepherd: 0 };

  before(async () => {
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
    db = await createTestDatabase('stocks_e2e');
    // The test database's migrations are applied; the services re-check them on start.
    const common = { DATABASE_URL: db.url, LOG_LEVEL: 'warn' };
    services.push(
      await startService('load_data', ports.load_data, { ...common, MARKET_DATA_SOURCE: 'csv', MARKET_DATA_DIR }),
      await startService('nn_estimator', ports.nn_estimator, { ...common, TRAIN_EPOCHS: '2', MODEL_WINDOW: '20', MODEL_UNITS: '8', TRAIN_MAX_BARS: '500' }),
      await startService('shepherd', ports.shepherd, {
        ...common,
        WATCHLIST: 'AAPL,MSFT',
        LOAD_DATA_URL: `http://127.0.0.1:${ports.load_data}`,
        ESTIMATOR_URL: `http://127.0.0.1:${ports.nn_estimator}`,
        JOB_POLL_INTERVAL_MS: '250',
      }),
    );
  });

  after(async () => {
    for (const s of services.reverse()) await stopService(s);
    await db.drop();
  });

  test('the startup run loads, trains, and /predict serves both tickers', async () => {
    const shepherd = `http://127.0.0.1:${ports.shepherd}`;
    let run: any;
    const deadline = Date.now() + 240_000;
    do {
      await new Promise((r) => setTimeout(r, 500));
      run = (await getJson(`${shepherd}/runs`)).body.runs[0];
    } while ((!run || run.status === 'running') && Date.now() < deadline);
    assert.ok(run, 'a startup run was recorded');
    assert.equal(run.trigger, 'startup');
    assert.equal(run.status, 'succeeded', JSON.stringify(run, null, 1) + services.map((s) => s.output().slice(-2000)).join('\n'));
    for (const ticker of ['AAPL', 'MSFT']) {
      const steps = run.steps.filter((s: any) => s.ticker === ticker);
      // The CSVs end 2023-12-29, before today: a backfill counts the initial history back from that bar.
      assert.deepEqual(steps.map((s: any) => [s.step, s.status]), [['load', 'succeeded'], ['backfill', 'succeeded'], ['train', 'succeeded']]);
      assert.equal(steps[0].detail.last_date, '2023-12-29');

      const { status, body } = await getJson(`http://127.0.0.1:${ports.nn_estimator}/predict?ticker=${ticker}&horizon=5`);
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.forecast.length, 5);
      assert.equal(body.last_date, '2023-12-29');
      for (const f of body.forecast) assert.ok(isTradingDay(ticker, f.date) && f.close > 0 && Number.isFinite(f.close));

      const models = (await getJson(`http://127.0.0.1:${ports.nn_estimator}/models?ticker=${ticker}`)).body.models;
      assert.equal(models[0].champion, true);
      assert.ok(models[0].baseline.mae > 0);
    }

    // A manual run right after finds everything fresh for the CSV's last day... or, with the
    // calendar past 2023, asks for the missing days, gets none, and does not retrain.
    const manual = await getJson(`${shepherd}/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(manual.status, 202);
    let second: any;
    do {
      await new Promise((r) => setTimeout(r, 300));
      second = (await getJson(`${shepherd}/runs/${manual.body.run_id}`)).body;
    } while (second.status === 'running');
    assert.equal(second.status, 'succeeded');
    assert.ok(second.steps.filter((s: any) => s.step === 'train').every((s: any) => s.status === 'skipped'));
  });
});
