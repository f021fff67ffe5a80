// Serving over HTTP against a real Postgres: the forecast cache and its invalidation (new prices,
// promotion, lost listener), POST /predict micro-batching, and compiled vs TF.js end to end.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type PgBoss from 'pg-boss';
import * as tf from '@tensorflow/tfjs';
import type { DailyBar } from '@stocks/common';
import { prices } from '@stocks/db';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { readMarketData } from '../../test/support/market-data.ts';
import { buildApp } from '../src/app.ts';
import { loadEstimatorEnv } from '../src/config.ts';
import { initBackend } from '../src/training/backend.ts';
import { trainModel, type TrainResult } from '../src/model/train.ts';
import { startQueue } from '../src/training/queue.ts';
import { storeChampion } from './support/champions.ts';
import { forecastMany, forecastManyYielding } from '../src/serving/forecaster.ts';
import { ChampionCache } from '../src/serving/champion-cache.ts';

type App = Awaited<ReturnType<typeof buildApp>>;

// Least-squares shrinkage keeps the network's move in the served forecast, so a retrained model
// or new bars visibly change it (the default gate would mostly serve the naive forecast).
const SMALL = { window: 20, units: 8, epochs: 2, horizon: 10, shrinkage: 'least_squares' as const };

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Micro-batches run and the requests they held, as exported to Prometheus. */
async function batchStats(target: App): Promise<{ batches: number; items: number }> {
  const metrics = await target.registry.getMetricsAsJSON();
  const values = (name: string) => (metrics.find((m) => m.name === name)?.values ?? []) as Array<{ value: number; metricName?: string }>;
  return {
    batches: values('forecast_batches_total')[0]?.value ?? 0,
    items: values('forecast_batch_size').find((v) => v.metricName === 'forecast_batch_size_sum')?.value ?? 0,
  };
}

describe('forecast serving', () => {
  let db: TestDatabase;
  let boss: PgBoss;
  let app: App;
  let tfjsApp: App;
  let aapl: DailyBar[];
  let trained: TrainResult;
  let version: number;

  before(async () => {
    const backend = await initBackend();
    db = await createTestDatabase();
    aapl = await readMarketData('AAPL', 700);
    await prices.upsertPrices(db.pool, 'AAPL', 'csv', aapl.slice(0, -5)); // the last 5 bars arrive later
    trained = await trainModel({ ticker: 'AAPL', bars: aapl.slice(0, -5), config: SMALL });
    version = await storeChampion(db.pool, 'AAPL', trained);
    const env = loadEstimatorEnv({ DATABASE_URL: db.url, ESTIMATOR_ROLE: 'api', RATE_LIMIT_PER_MINUTE: '0', PREDICT_RATE_LIMIT_PER_MINUTE: '0', PREDICT_MAX_IN_FLIGHT: '1024' });
    boss = await startQueue(db.url, { retryLimit: 0, expireInSeconds: 600 }, () => {});
    app = await buildApp({ env, pool: db.pool, boss, backend, logger: false, serving: { debounceMs: 10 } });
    tfjsApp = await buildApp({ env, pool: db.pool, boss, backend, logger: false, serving: { disableCompiled: true, debounceMs: 10 } });
    await until('listeners', async () => (app.changeListener?.connected && tfjsApp.changeListener?.connected ? true : undefined));
  });
  after(async () => {
    await app?.close();
    await tfjsApp?.close();
    await boss?.stop({ graceful: false, wait: true });
    await db?.drop();
  });

  const get = async (target: App, horizon = 5) => {
    const res = await target.inject(`/predict?ticker=AAPL&horizon=${horizon}`);
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };

  test('the champion is precomputed at start and GET /predict answers from memory, saying when it was computed', async () => {
    await until('precomputed forecast', async () => (app.forecasts.cachedTickers().includes('AAPL') ? true : undefined));
    const first = await get(app);
    assert.equal(first.cached, true);
    assert.equal(first.model_version, version);
    assert.equal(first.last_date, aapl.at(-6)!.date);
    assert.ok(!Number.isNaN(Date.parse(first.computed_at)) && first.computed_at.endsWith('Z'));
    assert.equal(first.forecast.length, 5);
    for (const p of first.forecast) {
      assert.ok(p.lower95 <= p.lower80 && p.lower80 <= p.close && p.close <= p.upper80 && p.upper80 <= p.upper95, 'intervals around the point');
    }
    const again = await get(app, 2);
    assert.equal(again.computed_at, first.computed_at);
    assert.deepEqual(again.forecast, first.forecast.slice(0, 2));
    const metrics = (await app.inject('/metrics')).body;
    assert.match(metrics, /forecast_cache_hits_total\{[^}]*\} [1-9]/);
    assert.match(metrics, /forecast_engine_loads_total\{engine="compiled(-simd)?",reason="verified"[^}]*\} [1-9]/);
  });

  test('compiled and TF.js serve the same forecast (and the bands made from it)', async () => {
    const viaCompiled = await get(app, 10);
    const viaTfjs = await get(tfjsApp, 10);
    assert.equal(viaTfjs.last_date, viaCompiled.last_date);
    for (let k = 0; k < 10; k++) {
      for (const field of ['close', 'lower80', 'upper80', 'lower95', 'upper95']) {
        const a = viaCompiled.forecast[k][field];
        const b = viaTfjs.forecast[k][field];
        assert.ok(Math.abs(a / b - 1) < 1e-6, `${field}[${k}]: ${a} vs ${b}`);
      }
    }
    assert.match((await tfjsApp.inject('/metrics')).body, /forecast_engine_loads_total\{engine="tfjs",reason="not_compiled"[^}]*\} [1-9]/);
  });

  test('new prices (a load in another process) invalidate the cache in every replica', async () => {
    const before = await get(app);
    // What 2_load_data does: an upsert; the trigger on `prices` NOTIFYs prices_changed.
    await prices.upsertPrices(db.pool, 'AAPL', 'csv', aapl.slice(-5));
    for (const replica of [app, tfjsApp]) {
      const fresh = await until('new last_date', async () => {
        const body = await get(replica);
        return body.last_date === aapl.at(-1)!.date ? body : undefined;
      });
      assert.equal(fresh.model_version, version);
      assert.ok(fresh.computed_at > before.computed_at);
      assert.ok(Math.abs(fresh.forecast[0].close / aapl.at(-1)!.close - 1) < 0.25);
    }
    // A correction of an old bar inside the window changes the forecast too.
    const corrected = await get(app);
    const bar = aapl.at(-3)!;
    await prices.upsertPrices(db.pool, 'AAPL', 'csv', [{ ...bar, close: bar.close * 1.05 }]);
    const after = await until('recomputed after a correction', async () => {
      const body = await get(app);
      return body.computed_at > corrected.computed_at ? body : undefined;
    });
    assert.notEqual(after.forecast[0].close, corrected.forecast[0].close);
    await prices.upsertPrices(db.pool, 'AAPL', 'csv', [bar]);
  });

  test('a promotion invalidates the cache: the next GET serves the new version', async () => {
    const before = await get(app);
    const retrained = await trainModel({ ticker: 'AAPL', bars: aapl, config: { ...SMALL, seed: 7 } });
    const newVersion = await storeChampion(db.pool, 'AAPL', retrained);
    assert.notEqual(newVersion, before.model_version);
    for (const replica of [app, tfjsApp]) {
      const body = await until('new model_version', async () => {
        const b = await get(replica);
        return b.model_version === newVersion ? b : undefined;
      });
      assert.notEqual(body.forecast[0].close, before.forecast[0].close);
    }
    await app.forecasts.settled();
    assert.equal((await get(app)).cached, true);
    version = newVersion;
  });

  test('a champion written by plain SQL (no code path of ours) switches every replica', async () => {
    const current = await get(app);
    const { rows } = await db.pool.query<{ version: number }>(`SELECT version FROM models WHERE ticker = 'AAPL' AND version <> $1 ORDER BY version LIMIT 1`, [current.model_version]);
    const older = rows[0]!.version;
    const crown = async (v: number) => {
      // What an operator's manual fix looks like: no NOTIFY, no model_events, just the rows.
      await db.pool.query(`BEGIN; UPDATE models SET is_champion = false, status = 'retired' WHERE ticker = 'AAPL' AND is_champion;
        UPDATE models SET is_champion = true, status = 'champion' WHERE version = ${v}; COMMIT`);
      for (const replica of [app, tfjsApp]) {
        await until(`every replica serving version ${v}`, async () => ((await get(replica)).model_version === v ? true : undefined));
      }
    };
    await crown(older);
    await crown(current.model_version);
    // An in-place edit of the champion (its alpha) is announced too: the served forecast follows it.
    const edited = await get(app);
    await db.pool.query(`UPDATE models SET alpha = 0 WHERE ticker = 'AAPL' AND is_champion`);
    const naive = await until('the edited champion served', async () => {
      const body = await get(tfjsApp);
      return body.alpha === 0 ? body : undefined;
    });
    assert.ok(naive.forecast.every((p: { close: number }) => p.close === naive.forecast[0].close), 'alpha 0 is the naive forecast');
    await db.pool.query(`UPDATE models SET alpha = $1 WHERE ticker = 'AAPL' AND is_champion`, [edited.alpha]);
    await until('the restored champion served', async () => ((await get(app)).alpha === edited.alpha ? true : undefined));
  });

  test("a ticker's first champion is served without waiting for the notification", async () => {
    // A cache that never hears NOTIFY: what a replica is between a commit and its listener's turn.
    const cache = new ChampionCache(db.pool, tf.getBackend());
    assert.equal(await cache.get('MSFT'), undefined);
    const first = await storeChampion(db.pool, 'MSFT', trained);
    assert.equal((await cache.get('MSFT'))?.version, first, 'no champion is not remembered');
    const second = await storeChampion(db.pool, 'MSFT', trained);
    assert.equal((await cache.get('MSFT'))?.version, first, 'a loaded champion is, until its NOTIFY');
    cache.invalidate('MSFT');
    assert.equal((await cache.get('MSFT'))?.version, second);
  });

  test('while the listener is down nothing is served from memory; on reconnect it is again', async () => {
    assert.equal((await get(app)).cached, true);
    await db.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'nn_estimator_listener' AND datname = current_database()`);
    await until('listener down', async () => (app.changeListener?.connected ? undefined : true));
    assert.equal((await get(app)).cached, false);
    await until('listener back', async () => (app.changeListener?.connected ? true : undefined), 15_000);
    const back = await until('cached again', async () => {
      const b = await get(app);
      return b.cached ? b : undefined;
    });
    assert.equal(back.model_version, version);
  });

  test('concurrent POST /predict calls run in fewer batches and give the sequential results', async () => {
    const bars = aapl.map((b) => ({ date: b.date, close: b.close }));
    const bodies = Array.from({ length: 48 }, (_, i) => ({ ticker: 'AAPL', horizon: 1 + (i % 10), bars: bars.slice(0, bars.length - (i % 12)) }));
    const post = (target: App, payload: object) => target.inject({ method: 'POST', url: '/predict', payload });
    const sequential: Array<{ forecast: unknown }> = [];
    for (const body of bodies) sequential.push((await post(app, body)).json());
    const stats = await batchStats(app);
    assert.equal(stats.batches, stats.items, 'one at a time: one batch each');
    const concurrent = await Promise.all(bodies.map((body) => post(app, body)));
    const after = await batchStats(app);
    const batches = after.batches - stats.batches;
    assert.equal(after.items - stats.items, bodies.length);
    assert.ok(batches < bodies.length / 4, `${bodies.length} concurrent requests ran in ${batches} batches`);
    concurrent.forEach((res, i) => {
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.cached, false);
      assert.deepEqual(body.forecast, sequential[i]!.forecast);
      assert.equal(body.last_date, bodies[i]!.bars.at(-1)!.date);
    });
    // A bad request in a batch fails alone.
    const mixed = await Promise.all([post(app, bodies[0]!), post(app, { ...bodies[1]!, bars: bars.slice(0, 10) }), post(app, bodies[2]!)]);
    assert.deepEqual(mixed.map((r) => r.statusCode), [200, 422, 200]);
    assert.equal((await post(app, { ...bodies[0]!, horizon: 20 })).statusCode, 400); // this model forecasts 10 days
    const metrics = (await app.inject('/metrics')).body;
    assert.match(metrics, /forecast_batches_total\{[^}]*\} [1-9]/);
    assert.match(metrics, /forecast_batch_size_bucket\{le="64"[^}]*\} [1-9]/);
  });

  test('a micro-batch gives the event loop a turn between its requests, with the same forecasts', async () => {
    const champion = (await app.champions.get('AAPL'))!;
    const requests = [0, 3, 7].map((cut) => {
      const bars = aapl.slice(0, aapl.length - cut);
      return { closes: bars.map((b) => b.close), lastDate: bars.at(-1)!.date, horizon: 10, bars };
    });
    let turns = 0;
    let counting = true;
    const count = () => { if (counting) { turns++; setImmediate(count); } };
    setImmediate(count);
    const yielding = await forecastManyYielding(champion, requests);
    counting = false;
    assert.ok(turns >= requests.length - 1, `other callbacks ran ${turns} times during a batch of ${requests.length}`);
    assert.deepEqual(yielding, forecastMany(champion, requests));
  });

  test('a compiled pass that fails its check falls back to TF.js, logged and counted', async () => {
    const env = loadEstimatorEnv({ DATABASE_URL: db.url, ESTIMATOR_ROLE: 'api', RATE_LIMIT_PER_MINUTE: '0', PREDICT_RATE_LIMIT_PER_MINUTE: '0', PREDICT_MAX_IN_FLIGHT: '1024' });
    const strict = await buildApp({ env, pool: db.pool, boss, backend: tf.getBackend(), logger: false, serving: { compiledTolerance: -1 } });
    try {
      const res = await strict.inject('/predict?ticker=AAPL&horizon=3');
      assert.equal(res.statusCode, 200, res.body);
      const reference = await get(tfjsApp, 3);
      assert.deepEqual(res.json().forecast, reference.forecast);
      const champion = await strict.champions.get('AAPL');
      assert.equal(champion?.predictor.engine, 'tfjs');
      assert.match((await strict.inject('/metrics')).body, /forecast_engine_loads_total\{engine="tfjs",reason="check_failed"[^}]*\} [1-9]/);
    } finally {
      await strict.close();
    }
  });

  test('no tensor leak over many predictions, and tfjs_num_tensors is exported', async () => {
    const bars = aapl.slice(-60).map((b) => ({ date: b.date, close: b.close }));
    const payload = { ticker: 'AAPL', horizon: 3, bars };
    await tfjsApp.inject({ method: 'POST', url: '/predict', payload });
    const before = tf.memory().numTensors;
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 50 }, () => tfjsApp.inject({ method: 'POST', url: '/predict', payload })));
      await Promise.all(Array.from({ length: 50 }, () => app.inject({ method: 'POST', url: '/predict', payload })));
      await get(app);
    }
    // <=: a replaced champion from an earlier test may be disposed (5 s after its replacement) meanwhile.
    assert.ok(tf.memory().numTensors <= before, `${tf.memory().numTensors} tensors after, ${before} before`);
    assert.match((await app.inject('/metrics')).body, /tfjs_num_tensors\{[^}]*\} \d+\n/);
  });
});
