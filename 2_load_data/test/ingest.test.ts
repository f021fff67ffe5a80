import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, beforeEach, describe, test } from 'node:test';
import { corporateActions, prices, tickers } from '@stocks/db';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { buildApp } from '../src/app.ts';
import { loadLoadDataEnv } from '../src/config.ts';
import { createYahooSource } from '../src/sources/yahoo.ts';
import { startReplayedLoader, type ReplayedLoader } from './support/replayed-loader.ts';
import { startYahooReplay, type YahooReplay } from './support/yahoo-replay.ts';

type App = Awaited<ReturnType<typeof buildApp>>;

describe('circuit breaker on Yahoo', () => {
  let yahoo: YahooReplay;
  let app: App;

  let loader: ReplayedLoader;
  before(async () => {
    loader = await startReplayedLoader({ env: { YAHOO_BREAKER_MIN_REQUESTS: '2', YAHOO_BREAKER_ERROR_PERCENT: '50', YAHOO_BREAKER_RESET_MS: '400' }, yahoo: { timeoutMs: 500, maxRetries: 0, baseDelayMs: 1 } });
    ({ yahoo, app } = loader);
  });
  after(() => loader.close());
  beforeEach(() => yahoo.setFault(null));

  const load = (ticker = 'AAPL') => app.inject({ method: 'POST', url: '/load', payload: { ticker, start_date: '2020-01-02', end_date: '2020-01-03' } });
  const gauge = async () => Number(/yahoo_circuit_open\{[^}]*\} ([\d.]+)/.exec((await app.inject('/metrics')).body)?.[1]);

  test('unknown tickers are not failures: the breaker stays closed', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await load('NOSUCH')).statusCode, 404);
    assert.equal(await gauge(), 0);
  });

  test('repeated failures open it: the next load fails fast with 503 and Retry-After, without calling Yahoo', async () => {
    yahoo.setFault({ kind: 'status', status: 500 });
    // 5 successes (404s) in the window so far: 5 failures are needed to pass 50 %.
    let opened = false;
    for (let i = 0; i < 10 && !opened; i++) {
      const res = await load();
      if (res.statusCode === 503) opened = true;
      else assert.equal(res.statusCode, 502, res.body);
    }
    assert.ok(opened, 'breaker opened');
    assert.equal(await gauge(), 1);
    const calls = yahoo.requests.length;
    const started = Date.now();
    const res = await load();
    assert.equal(res.statusCode, 503);
    assert.match(res.json().message, /^Yahoo Finance circuit open after repeated failures; retry in \d+ s$/);
    assert.match(String(res.headers['retry-after']), /^[1-9]\d*$/);
    assert.equal(yahoo.requests.length, calls, 'no upstream call while open');
    assert.ok(Date.now() - started < 200, 'fails fast');
  });

  test('after the reset timeout one trial goes through; success closes it', async () => {
    yahoo.setFault(null);
    await sleep(450);
    assert.equal(await gauge(), 0.5);
    const res = await load();
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(await gauge(), 0);
  });
});

describe('split inside the stored history: full re-fetch and replace in one transaction', () => {
  let db: TestDatabase;
  let yahoo: YahooReplay;
  let app: App;

  before(async () => {
    db = await createTestDatabase();
    // Replays Yahoo's recorded AAPL answer (with its 4:1 split on 2020-08-31) for exactly that range;
    // any other range is built from AAPL.csv, which is split-adjusted as of 2023.
    yahoo = await startYahooReplay({ fixtures: ['chart-AAPL-2020-08-31-to-2020-11-07.json'] });
    const env = loadLoadDataEnv({ DATABASE_URL: db.url, YAHOO_BREAKER_MIN_REQUESTS: '1000' });
    const source = createYahooSource({ baseUrl: yahoo.url, timeoutMs: 500, maxRetries: 1, baseDelayMs: 1 });
    app = await buildApp({ env, pool: db.pool, source, logger: false });
  });
  after(async () => {
    await app.close();
    await yahoo.close();
    await db.drop();
  });

  /** Stored before the split, on the old scale (4x), plus a stale row Yahoo no longer has. */
  async function seedPreSplitHistory() {
    await db.pool.query(`DELETE FROM prices; DELETE FROM corporate_actions; DELETE FROM tickers`);
    const old = [['2020-08-24', 503.43], ['2020-08-25', 499.3], ['2020-08-26', 506.09], ['2020-08-27', 500.04], ['2020-08-28', 499.23]] as const;
    await prices.upsertPrices(db.pool, 'AAPL', 'yahoo', [
      ...old.map(([date, close]) => ({ date, open: null, high: null, low: null, close, adj_close: null, volume: null })),
      { date: '2020-08-29', open: null, high: null, low: null, close: 499, adj_close: null, volume: null },
    ]);
  }
  const loadAfterSplit = () => app.inject({ method: 'POST', url: '/load', payload: { ticker: 'AAPL', start_date: '2020-08-31', end_date: '2020-11-06' } });

  test('a failure while re-fetching leaves the old history and records nothing', async () => {
    await seedPreSplitHistory();
    const before = await prices.getPrices(db.pool, 'AAPL');
    yahoo.setFault({ kind: 'status', status: 500, skip: 1 }); // the range fetch works, the full re-fetch fails
    try {
      const res = await loadAfterSplit();
      assert.equal(res.statusCode, 502, res.body);
    } finally {
      yahoo.setFault(null);
    }
    assert.deepEqual(await prices.getPrices(db.pool, 'AAPL'), before);
    assert.deepEqual(await corporateActions.listCorporateActions(db.pool, 'AAPL'), []);
    assert.equal(await tickers.needsFullRetrain(db.pool, 'AAPL'), false);
  });

  test('the whole history is replaced on the new scale, the split recorded, the ticker marked for retraining', async () => {
    await seedPreSplitHistory();
    const calls = yahoo.requests.length;
    const res = await loadAfterSplit();
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.history_rewritten, true);
    assert.equal(body.first_date, '2020-08-24');
    assert.equal(body.last_date, '2020-11-06');
    assert.equal(body.fetched, 54); // 5 pre-split days + 49
    assert.equal(body.deleted, 1); // 2020-08-29, a Saturday Yahoo doesn't have
    assert.equal(body.splits, 1);
    const last = yahoo.requests.at(-1)!;
    assert.equal(yahoo.requests.length - calls, 2);
    assert.equal(last.query.period1, String(Date.UTC(2020, 7, 24) / 1000), 're-fetched from the first stored day');

    const stored = await prices.getPrices(db.pool, 'AAPL');
    assert.equal(stored.length, 54);
    assert.equal(stored.find((b) => b.date === '2020-08-28')?.close, 124.80750274658203); // 499.23 / 4
    assert.ok(stored.every((b) => b.close < 140), 'no bar left on the old scale');
    const actions = await corporateActions.listCorporateActions(db.pool, 'AAPL');
    assert.deepEqual(actions.map((a) => [a.date, a.kind]), [['2020-08-31', 'split'], ['2020-11-06', 'dividend']]);
    assert.equal(await tickers.needsFullRetrain(db.pool, 'AAPL'), true);
    assert.match((await app.inject('/metrics')).body, /history_rewrites_total\{[^}]*ticker="AAPL"[^}]*\} 1/);
  });

  test('the same split seen again does not rewrite twice', async () => {
    const res = await loadAfterSplit();
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().history_rewritten, false);
    // (updated > 0 here: the recorded answer's adj_close is from 2025, AAPL.csv's from 2023.)
    assert.deepEqual([res.json().inserted, res.json().deleted], [0, 0]);
  });

  test('a split before any stored bar needs no rewrite', async () => {
    await db.pool.query(`DELETE FROM prices; DELETE FROM corporate_actions; DELETE FROM tickers`);
    const res = await loadAfterSplit();
    assert.equal(res.json().history_rewritten, false);
    assert.equal(res.json().inserted, 49);
    assert.equal(await tickers.needsFullRetrain(db.pool, 'AAPL'), false);
  });
});

describe('simultaneous loads of one ticker', () => {
  let db: TestDatabase;
  let app: App;

  let loader: ReplayedLoader;
  before(async () => {
    loader = await startReplayedLoader({ env: { YAHOO_BREAKER_MIN_REQUESTS: '1000' }, yahoo: { timeoutMs: 2_000, maxRetries: 0, concurrency: 8 } });
    ({ db, app } = loader);
  });
  after(() => loader.close());

  const load = (ticker: string, start_date: string, end_date: string) =>
    app.inject({ method: 'POST', url: '/load', payload: { ticker, start_date, end_date } });

  test('overlapping ranges at once end with the same table as one load: no duplicate, deadlock or lost row', async () => {
    const ranges: Array<[string, string]> = [
      ['1990-01-01', '1995-12-31'], ['1993-01-01', '1999-12-31'], ['1990-06-01', '1997-06-30'], ['1994-01-01', '1999-12-31'],
    ];
    for (let round = 0; round < 3; round++) {
      await db.pool.query(`DELETE FROM prices`);
      const results = await Promise.all(ranges.map(([s, e]) => load('^GSPC', s, e)));
      for (const r of results) assert.equal(r.statusCode, 200, r.body);
      const concurrent = await prices.getPrices(db.pool, '^GSPC');
      // Every stored row was inserted by exactly one of the loads.
      assert.equal(results.reduce((n, r) => n + r.json().inserted, 0), concurrent.length);

      await db.pool.query(`DELETE FROM prices`);
      assert.equal((await load('^GSPC', '1990-01-01', '1999-12-31')).statusCode, 200);
      assert.deepEqual(concurrent, await prices.getPrices(db.pool, '^GSPC'));
    }
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n, count(DISTINCT date)::int AS d FROM prices WHERE ticker = '^GSPC'`);
    assert.equal(rows[0].n, rows[0].d);
  });
});
