import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { prices } from '@stocks/db';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { buildApp } from '../src/app.ts';
import { loadLoadDataEnv } from '../src/config.ts';
import { startReplayedLoader, type ReplayedLoader } from './support/replayed-loader.ts';
import { type Fault, MARKET_DATA_DIR, startYahooReplay, type YahooReplay } from './support/yahoo-replay.ts';

type App = Awaited<ReturnType<typeof buildApp>>;

describe('2_load_data over HTTP, yahoo source replayed', () => {
  let db: TestDatabase;
  let yahoo: YahooReplay;
  let app: App;

  let loader: ReplayedLoader;
  before(async () => {
    // The breaker has its own tests below; here every fault must reach Yahoo's retry logic.
    loader = await startReplayedLoader({ env: { YAHOO_BREAKER_MIN_REQUESTS: '1000' }, yahoo: { timeoutMs: 500, maxRetries: 2, baseDelayMs: 5 } });
    ({ db, yahoo, app } = loader);
  });
  after(() => loader.close());

  const load = (body: unknown) => app.inject({ method: 'POST', url: '/load', payload: body as object });

  test('loads a range of real bars and reports what it stored', async () => {
    const res = await load({ ticker: 'AAPL', start_date: '2020-08-31', end_date: '2020-11-06' });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.ticker, 'AAPL');
    assert.equal(body.source, 'yahoo');
    assert.equal(body.first_date, '2020-08-31');
    assert.equal(body.last_date, '2020-11-06');
    assert.equal(body.fetched, 49);
    assert.equal(body.inserted, 49);
    assert.equal(body.updated, 0);
    const stored = await prices.getPrices(db.pool, 'AAPL');
    assert.equal(stored.length, 49);
    assert.equal(stored[0]!.close, 129.0399932861328);
  });

  test('a repeated load changes nothing and reports 0 inserted', async () => {
    const res = await load({ ticker: 'aapl', start_date: '2020-08-31', end_date: '2020-11-06' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual([res.json().fetched, res.json().inserted, res.json().updated], [49, 0, 0]);
  });

  test('malformed bodies get 400 with a message naming the field', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ start_date: '2020-01-01', end_date: '2020-02-01' }, /ticker/],
      [{ ticker: 'AAPL', start_date: '2020-13-01', end_date: '2020-02-01' }, /start_date/],
      [{ ticker: 'AAPL', start_date: '01/02/2020', end_date: '2020-02-01' }, /YYYY-MM-DD/],
      [{ ticker: 'AAPL; DROP TABLE prices', start_date: '2020-01-01', end_date: '2020-02-01' }, /Yahoo symbol/],
      [{ ticker: 'AAPL', start_date: '2020-01-01', end_date: '2020-02-01', extra: 1 }, /extra/],
      [{ ticker: 'AAPL', start_date: '2020-03-01', end_date: '2020-02-01' }, /start_date must be on or before end_date/],
    ];
    for (const [body, message] of cases) {
      const res = await load(body);
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.match(res.json().message, message);
      assert.equal(res.json().statusCode, 400);
    }
    const notJson = await app.inject({ method: 'POST', url: '/load', headers: { 'content-type': 'application/json' }, payload: '{"ticker":' });
    assert.equal(notJson.statusCode, 400);
    assert.ok(notJson.json().message);
  });

  test('an unknown ticker is a 404 carrying Yahoo\'s reason', async () => {
    const res = await load({ ticker: 'NOSUCHTICKER', start_date: '2020-01-01', end_date: '2020-02-01' });
    assert.equal(res.statusCode, 404);
    assert.match(res.json().message, /NOSUCHTICKER/);
  });

  test('Yahoo failing is a 502 and the stored prices stay as they were', async () => {
    const before = await prices.getPrices(db.pool, 'AAPL');
    yahoo.setFault({ kind: 'status', status: 500 });
    try {
      const res = await load({ ticker: 'AAPL', start_date: '2020-08-31', end_date: '2020-11-06' });
      assert.equal(res.statusCode, 502);
      assert.match(res.json().message, /500/);
    } finally {
      yahoo.setFault(null);
    }
    assert.deepEqual(await prices.getPrices(db.pool, 'AAPL'), before);
  });

  test('Yahoo rate limiting is a 503 with Retry-After', async () => {
    yahoo.setFault({ kind: 'status', status: 429, retryAfter: 1 });
    try {
      const res = await load({ ticker: 'MSFT', start_date: '2020-08-31', end_date: '2020-09-30' });
      assert.equal(res.statusCode, 503);
      assert.ok(res.headers['retry-after']);
      assert.match(res.json().message, /429/);
    } finally {
      yahoo.setFault(null);
    }
  });

  /** Each fault of the replay server, persistent, through POST /load: status, message, table untouched. */
  const faults: Array<[string, Fault, number, RegExp]> = [
    ['a request that never answers times out', { kind: 'hang' }, 502, /^Yahoo Finance did not answer within 500 ms after 3 attempts$/],
    ['a connection reset', { kind: 'reset' }, 502, /^Yahoo Finance connection failed \(\w+\) after 3 attempts$/],
    ['an unparsable (HTML) body', { kind: 'garbage' }, 502, /^Yahoo Finance sent an unparsable response after 3 attempts/],
    ['a truncated JSON body', { kind: 'garbage', body: '{"chart":{"result":[{"meta":' }, 502, /unparsable response/],
    ['a 502 Bad Gateway', { kind: 'status', status: 502 }, 502, /answered 502 Bad Gateway after 3 attempts/],
    ['a 503 with Retry-After', { kind: 'status', status: 503, retryAfter: 2 }, 503, /answered 503 Service Unavailable after 3 attempts.*Retry after 2 s/],
    ['a 429 without Retry-After', { kind: 'status', status: 429 }, 503, /answered 429 Too Many Requests after 3 attempts.*Retry after 60 s\.$/],
  ];
  for (const [name, fault, status, message] of faults) {
    test(`Yahoo fault: ${name} -> ${status}, nothing stored`, async () => {
      const before = await prices.getPrices(db.pool, 'AAPL');
      yahoo.setFault(fault);
      const calls = yahoo.requests.length;
      try {
        const res = await load({ ticker: 'AAPL', start_date: '2020-11-09', end_date: '2020-11-13' });
        assert.equal(res.statusCode, status, res.body);
        assert.match(res.json().message, message);
        assert.equal(res.json().statusCode, status);
        if (status === 503) assert.match(String(res.headers['retry-after']), /^\d+$/);
        else assert.equal(res.headers['retry-after'], undefined);
        assert.equal(yahoo.requests.length - calls, 3, 'bounded retries: maxRetries 2 = 3 attempts');
      } finally {
        yahoo.setFault(null);
      }
      assert.deepEqual(await prices.getPrices(db.pool, 'AAPL'), before);
    });
  }

  test('a transient fault (503 twice) is retried and the load succeeds', async () => {
    yahoo.setFault({ kind: 'status', status: 503, times: 2 });
    const res = await load({ ticker: 'MSFT', start_date: '2021-01-04', end_date: '2021-01-05' });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().inserted, 2);
  });

  test('a range with no trading days is 200 with fetched 0', async () => {
    const res = await load({ ticker: 'AAPL', start_date: '2020-01-04', end_date: '2020-01-05' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(
      [res.json().fetched, res.json().inserted, res.json().first_date, res.json().last_date, res.json().rejected],
      [0, 0, null, null, {}],
    );
  });

  test('a bar failing schema validation is counted, the good bars are stored', async () => {
    yahoo.setFault({ kind: 'bad-value', date: '2021-01-06', field: 'close', value: 'abc', times: 1 });
    const res = await load({ ticker: 'NVDA', start_date: '2021-01-04', end_date: '2021-01-08' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual([res.json().fetched, res.json().inserted, res.json().rejected], [4, 4, { schema: 1 }]);
    const dates = (await prices.getPrices(db.pool, 'NVDA')).map((b) => b.date);
    assert.deepEqual(dates, ['2021-01-04', '2021-01-05', '2021-01-07', '2021-01-08']);
  });

  test('a null bar is dropped and counted', async () => {
    yahoo.setFault({ kind: 'null-bar', date: '2021-02-02', times: 1 });
    const res = await load({ ticker: 'NVDA', start_date: '2021-02-01', end_date: '2021-02-03' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual([res.json().fetched, res.json().rejected], [2, { null_bar: 1 }]);
  });

  test('a bar that contradicts itself (low > high) is rejected by the rule, counted in the response', async () => {
    yahoo.setFault({ kind: 'bad-value', date: '2021-03-02', field: 'low', value: 10_000, times: 1 });
    const res = await load({ ticker: 'NVDA', start_date: '2021-03-01', end_date: '2021-03-03' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual([res.json().fetched, res.json().rejected], [2, { low_above_high: 1 }]);
  });

  test('^GSPC quirks: open = 0 (1962-1982) and volume 0 (before 1950) keep the close series', async () => {
    const res = await load({ ticker: '^GSPC', start_date: '1949-12-01', end_date: '1962-01-31' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().rejected, {});
    const stored = await prices.getPrices(db.pool, '^GSPC');
    assert.equal(stored.length, res.json().fetched);
    const jan1962 = stored.filter((b) => b.date >= '1962-01-02');
    assert.ok(jan1962.length >= 20 && jan1962.every((b) => b.open === null && b.close > 60));
    const dec1949 = stored.filter((b) => b.date < '1950-01-01');
    assert.ok(dec1949.length >= 20 && dec1949.every((b) => b.volume === 0 && b.close > 10));
  });

  test('rejected bars are counted in rows_rejected_total by reason', async () => {
    const metrics = (await app.inject('/metrics')).body;
    assert.match(metrics, /rows_rejected_total\{[^}]*ticker="NVDA"[^}]*reason="schema"[^}]*\} 1/);
    assert.match(metrics, /rows_rejected_total\{[^}]*reason="null_bar"[^}]*\} 1/);
    assert.match(metrics, /rows_rejected_total\{[^}]*reason="low_above_high"[^}]*\} 1/);
    assert.match(metrics, /yahoo_requests_total\{outcome="rate_limited"/);
    assert.match(metrics, /yahoo_circuit_open\{[^}]*\} 0/);
  });

  test('health, metrics and docs answer', async () => {
    assert.deepEqual((await app.inject('/health/live')).json(), { status: 'ok' });
    const ready = await app.inject('/health/ready');
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.json().database, 'up');
    const metrics = await app.inject('/metrics');
    assert.match(metrics.body, /rows_ingested_total\{.*ticker="AAPL".*\} 49/);
    assert.match(metrics.body, /yahoo_requests_total\{outcome="ok"/);
    assert.match(metrics.body, /^yahoo_circuit_open\{[^}]*\} 0$/m, 'the breaker is closed after good loads');
    assert.match(metrics.body, /http_requests_total\{/);
    const docs = await app.inject('/docs/json');
    assert.equal(docs.statusCode, 200);
    assert.ok(docs.json().paths['/load']);
    const ui = await app.inject('/docs');
    assert.ok([200, 302].includes(ui.statusCode));
    const missing = await app.inject('/nope');
    assert.equal(missing.statusCode, 404);
    assert.match(missing.json().message, /docs/);
  });
});

describe('2_load_data with the csv and sample sources', () => {
  let db: TestDatabase;
  before(async () => { db = await createTestDatabase(); });
  after(async () => { await db.drop(); });

  test('csv: loads a ticker from a folder of Yahoo CSVs; a missing file is a 404', async () => {
    const env = loadLoadDataEnv({ DATABASE_URL: db.url, MARKET_DATA_SOURCE: 'csv', MARKET_DATA_DIR });
    const app = await buildApp({ env, pool: db.pool, logger: false });
    try {
      const res = await app.inject({ method: 'POST', url: '/load', payload: { ticker: 'MSFT', start_date: '2023-12-01', end_date: '2023-12-31' } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().source, 'csv');
      assert.equal(res.json().last_date, '2023-12-29');
      const last = (await prices.getPrices(db.pool, 'MSFT')).at(-1)!;
      assert.equal(Math.round(last.close * 100) / 100, 376.04);
      const missing = await app.inject({ method: 'POST', url: '/load', payload: { ticker: 'ZZZZ', start_date: '2023-12-01', end_date: '2023-12-31' } });
      assert.equal(missing.statusCode, 404);
    } finally {
      await app.close();
    }
  });

  test('sample: serves the bundled S&P 500 history as ^GSPC', async () => {
    const env = loadLoadDataEnv({ DATABASE_URL: db.url, MARKET_DATA_SOURCE: 'sample' });
    const app = await buildApp({ env, pool: db.pool, logger: false });
    try {
      const res = await app.inject({ method: 'POST', url: '/load', payload: { ticker: '^GSPC', start_date: '2000-01-01', end_date: '2000-01-31' } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().first_date, '2000-01-03');
      assert.equal(res.json().inserted, res.json().fetched);
      assert.equal((await prices.getPrices(db.pool, '^GSPC'))[0]!.close, 1455.219971);
    } finally {
      await app.close();
    }
  });

  test('csv without MARKET_DATA_DIR is refused at boot with a message', () => {
    assert.throws(() => loadLoadDataEnv({ MARKET_DATA_SOURCE: 'csv' }), /MARKET_DATA_DIR/);
  });
});

describe('2_load_data built from its environment alone (MARKET_DATA_SOURCE=yahoo, YAHOO_BASE_URL)', () => {
  test('retries of Yahoo calls are counted in yahoo_retries_total', async () => {
    const db = await createTestDatabase();
    const yahoo = await startYahooReplay();
    const env = loadLoadDataEnv({ DATABASE_URL: db.url, YAHOO_BASE_URL: yahoo.url, YAHOO_TIMEOUT_MS: '2000', YAHOO_MAX_RETRIES: '2' });
    const app = await buildApp({ env, pool: db.pool, logger: false });
    try {
      yahoo.setFault({ kind: 'status', status: 500, times: 1 });
      const res = await app.inject({ method: 'POST', url: '/load', payload: { ticker: 'AAPL', start_date: '2020-08-31', end_date: '2020-09-04' } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().fetched, 5);
      const metrics = (await app.inject('/metrics')).body;
      assert.match(metrics, /yahoo_retries_total\{service="load_data"\} 1\n/);
      assert.match(metrics, /yahoo_requests_total\{outcome="ok",service="load_data"\} 1\n/);
    } finally {
      await app.close();
      await yahoo.close();
      await db.drop();
    }
  });
});
