import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createSource } from '../src/sources/index.ts';
import { createCsvSource } from '../src/sources/csv-source.ts';
import { createSampleSource } from '../src/sources/sample.ts';
import { UnknownTickerError, UpstreamError, type MarketDataSource } from '../src/sources/types.ts';
import { backoffMs, createYahooSource, parseRetryAfter, rewriteYahooUrl, type RetryInfo, type YahooSourceOptions } from '../src/sources/yahoo.ts';
import { MARKET_DATA_DIR, readFixtureBody, startYahooReplay, type YahooReplay } from './support/yahoo-replay.ts';

const AAPL_FIXTURE = 'chart-AAPL-2020-08-31-to-2020-11-07.json';
const BTC_FIXTURE = 'chart-BTC-USD-2020-01-01-to-2020-01-03.json';

const nyDate = (unixSeconds: number) => new Date(unixSeconds * 1000).toLocaleDateString('en-CA', { timeZone: 'America/New_York' });

describe('yahoo source through yahoo-finance2 against the replay server', () => {
  let replay: YahooReplay;
  let retries: RetryInfo[];
  /** Fast settings: failures in these tests shouldn't cost seconds. */
  const yahoo = (opts: YahooSourceOptions = {}): MarketDataSource =>
    createYahooSource({ baseUrl: replay.url, timeoutMs: 2_000, baseDelayMs: 5, maxDelayMs: 50, onRetry: (info) => retries.push(info), ...opts });

  before(async () => {
    replay = await startYahooReplay({ fixtures: [BTC_FIXTURE, 'chart-AAPL-2020-01-01-to-2020-01-03.json'] });
  });
  after(() => replay.close());
  beforeEach(() => {
    replay.setFault(null);
    replay.requests.length = 0;
    retries = [];
  });

  it('AAPL 2020-08-31..2020-11-06 from the CSV matches the recorded Yahoo fixture, in exchange-local dates', async () => {
    const result = await yahoo().fetchDaily('AAPL', '2020-08-31', '2020-11-06');

    const recorded = readFixtureBody(AAPL_FIXTURE).chart.result[0];
    const q = recorded.indicators.quote[0];
    const expected = recorded.timestamp.map((ts: number, i: number) => [nyDate(ts), q.open[i], q.high[i], q.low[i], q.close[i]]);
    assert.equal(result.bars.length, 49);
    assert.deepEqual(result.bars.map((b) => [b.date, b.open, b.high, b.low, b.close]), expected);
    assert.equal(result.bars[0]?.date, '2020-08-31'); // inclusive start
    assert.equal(result.bars[0]?.close, 129.0399932861328);
    assert.equal(result.bars.at(-1)?.date, '2020-11-06'); // inclusive end
    assert.deepEqual(result.rejected, {});

    // The library built the request: period2 is end + 1 day because chart's period2 is exclusive.
    const [request] = replay.requests;
    assert.equal(request?.path, '/v8/finance/chart/AAPL');
    assert.equal(request?.query.period1, String(Date.UTC(2020, 7, 31) / 1000));
    assert.equal(request?.query.period2, String(Date.UTC(2020, 10, 7) / 1000));
    assert.equal(request?.query.interval, '1d');
    assert.equal(request?.query.events, 'div|split');
  });

  it('replays a recorded fixture verbatim: bars, the 4:1 split and the dividend', async () => {
    const local = await startYahooReplay({ fixtures: [AAPL_FIXTURE] });
    try {
      const result = await createYahooSource({ baseUrl: local.url }).fetchDaily('AAPL', '2020-08-31', '2020-11-06');
      assert.equal(result.bars.length, 49);
      assert.deepEqual(result.bars[0], {
        date: '2020-08-31', open: 127.58000183105469, high: 131, low: 126, close: 129.0399932861328, adj_close: 125.82673645019531, volume: 225702700,
      });
      assert.deepEqual(result.splits, [{ date: '2020-08-31', numerator: 4, denominator: 1 }]);
      assert.deepEqual(result.dividends, [{ date: '2020-11-06', amount: 0.205 }]);
    } finally {
      await local.close();
    }
  });

  it('keeps to the inclusive range even when Yahoo returns a bar stamped exactly at period2 (recorded BTC-USD)', async () => {
    // The recorded answer for period2 = 2020-01-03T00:00Z contains the 2020-01-03 bar.
    const result = await yahoo().fetchDaily('BTC-USD', '2020-01-01', '2020-01-02');
    assert.deepEqual(result.bars.map((b) => [b.date, b.close]), [['2020-01-01', 7200.17431640625], ['2020-01-02', 6985.47021484375]]);
  });

  it('BTC-USD trades on weekends: bars stamped 00:00 UTC keep their UTC date', async () => {
    const result = await yahoo().fetchDaily('BTC-USD', '2020-01-03', '2020-01-07');
    assert.deepEqual(result.bars.map((b) => b.date), ['2020-01-03', '2020-01-04', '2020-01-05', '2020-01-06', '2020-01-07']);
  });

  it('NYSE bars get the New York date in both summer (13:30 UTC) and winter (14:30 UTC)', async () => {
    const result = await yahoo().fetchDaily('AAPL', '2020-03-06', '2020-03-09'); // DST starts 2020-03-08
    assert.deepEqual(result.bars.map((b) => b.date), ['2020-03-06', '2020-03-09']);
  });

  it('a weekend-only range is 0 bars, not an error', async () => {
    const result = await yahoo().fetchDaily('AAPL', '2020-01-04', '2020-01-05');
    assert.deepEqual(result, { bars: [], rejected: {}, splits: [], dividends: [] });
  });

  it('^GSPC 1962: open=0 becomes null, the close series is kept', async () => {
    const result = await yahoo().fetchDaily('^GSPC', '1962-01-02', '1962-01-05');
    assert.equal(result.bars.length, 4);
    assert.ok(result.bars.every((b) => b.open === null && b.close > 60));
  });

  it('unknown ticker -> UnknownTickerError with Yahoo\'s reason, without retrying', async () => {
    await assert.rejects(yahoo().fetchDaily('NOSUCH', '2020-01-02', '2020-01-10'), (err: unknown) => {
      assert.ok(err instanceof UnknownTickerError);
      assert.equal(err.ticker, 'NOSUCH');
      assert.match(err.message, /No data found, symbol may be delisted/);
      return true;
    });
    assert.equal(replay.requests.length, 1);
  });

  it('the unknown-symbol fault answers Yahoo\'s 404 body for a symbol that exists', async () => {
    replay.setFault({ kind: 'unknown-symbol' });
    await assert.rejects(yahoo().fetchDaily('AAPL', '2020-01-02', '2020-01-10'), UnknownTickerError);
  });

  it('429 once -> retried, then success', async () => {
    replay.setFault({ kind: 'status', status: 429, times: 1 });
    const result = await yahoo().fetchDaily('AAPL', '2020-01-02', '2020-01-10');
    assert.equal(result.bars.length, 7);
    assert.equal(replay.requests.length, 2);
    assert.equal(retries.length, 1);
    assert.equal(retries[0]?.problem, 'answered 429 Too Many Requests');
  });

  it('429 persistent -> UpstreamError after 4 attempts with retryAfterSeconds; Retry-After sets the wait (capped)', async () => {
    replay.setFault({ kind: 'status', status: 429, retryAfter: 7 });
    await assert.rejects(yahoo().fetchDaily('AAPL', '2020-01-02', '2020-01-10'), (err: unknown) => {
      assert.ok(err instanceof UpstreamError);
      assert.match(err.message, /^Yahoo Finance answered 429 Too Many Requests after 4 attempts/);
      assert.equal(err.retryAfterSeconds, 7);
      return true;
    });
    assert.equal(replay.requests.length, 4);
    assert.deepEqual(retries.map((r) => r.delayMs), [50, 50, 50]); // 7 s asked, capped by maxDelayMs
  });

  it('500 persistent -> UpstreamError naming the status, attempts = maxRetries + 1', async () => {
    replay.setFault({ kind: 'status', status: 500 });
    await assert.rejects(yahoo({ maxRetries: 2 }).fetchDaily('AAPL', '2020-01-02', '2020-01-10'), (err: unknown) => {
      assert.ok(err instanceof UpstreamError);
      assert.match(err.message, /^Yahoo Finance answered 500 Internal Server Error after 3 attempts/);
      assert.equal(err.retryAfterSeconds, undefined);
      return true;
    });
    assert.equal(replay.requests.length, 3);
  });

  it('503 twice then success', async () => {
    replay.setFault({ kind: 'status', status: 503, times: 2 });
    const result = await yahoo().fetchDaily('AAPL', '2020-01-02', '2020-01-03');
    assert.equal(result.bars.length, 2);
    assert.equal(retries.length, 2);
  });

  it('a hanging server times out per request, then UpstreamError', async () => {
    replay.setFault({ kind: 'hang' });
    const started = Date.now();
    await assert.rejects(yahoo({ timeoutMs: 150, maxRetries: 1 }).fetchDaily('AAPL', '2020-01-02', '2020-01-10'), (err: unknown) => {
      assert.ok(err instanceof UpstreamError);
      assert.equal(err.message, 'Yahoo Finance did not answer within 150 ms after 2 attempts');
      return true;
    });
    assert.equal(replay.requests.length, 2);
    assert.ok(Date.now() - started < 2_000);
  });

  it('a hang once, then an answer', async () => {
    replay.setFault({ kind: 'hang', times: 1 });
    const result = await yahoo({ timeoutMs: 150 }).fetchDaily('AAPL', '2020-01-02', '2020-01-03');
    assert.equal(result.bars.length, 2);
  });

  it('connection reset -> retried; persistent -> UpstreamError', async () => {
    replay.setFault({ kind: 'reset', times: 1 });
    assert.equal((await yahoo().fetchDaily('AAPL', '2020-01-02', '2020-01-03')).bars.length, 2);

    replay.setFault({ kind: 'reset' });
    await assert.rejects(yahoo().fetchDaily('AAPL', '2020-01-02', '2020-01-03'), (err: unknown) => {
      assert.ok(err instanceof UpstreamError);
      assert.match(err.message, /^Yahoo Finance connection failed \(\w+\) after 4 attempts$/);
      return true;
    });
  });

  it('garbage body -> retried; persistent -> UpstreamError about an unparsable response', async () => {
    replay.setFault({ kind: 'garbage', times: 1 });
    assert.equal((await yahoo().fetchDaily('AAPL', '2020-01-02', '2020-01-03')).bars.length, 2);

    replay.setFault({ kind: 'garbage', body: '{"chart":{"result":[{"meta":' });
    await assert.rejects(yahoo().fetchDaily('AAPL', '2020-01-02', '2020-01-03'), (err: unknown) => {
      assert.ok(err instanceof UpstreamError);
      assert.match(err.message, /^Yahoo Finance sent an unparsable response after 4 attempts: /);
      return true;
    });
  });

  it('a null bar is dropped and counted as null_bar, the others kept', async () => {
    replay.setFault({ kind: 'null-bar', date: '2020-01-06', times: 1 });
    const result = await yahoo().fetchDaily('AAPL', '2020-01-02', '2020-01-08');
    assert.deepEqual(result.bars.map((b) => b.date), ['2020-01-02', '2020-01-03', '2020-01-07', '2020-01-08']);
    assert.deepEqual(result.rejected, { null_bar: 1 });
  });

  it('a string where a number should be rejects that bar only, counted as schema', async () => {
    replay.setFault({ kind: 'bad-value', date: '2020-01-03', field: 'high', value: 'n/a', times: 1 });
    const result = await yahoo().fetchDaily('AAPL', '2020-01-02', '2020-01-08');
    assert.deepEqual(result.bars.map((b) => b.date), ['2020-01-02', '2020-01-06', '2020-01-07', '2020-01-08']);
    assert.deepEqual(result.rejected, { schema: 1 });
  });

  it('bars that contradict themselves go through cleanBars', async () => {
    replay.setFault({ kind: 'bad-value', date: '2020-01-03', field: 'low', value: 1000, times: 1 });
    const result = await yahoo().fetchDaily('AAPL', '2020-01-02', '2020-01-03');
    assert.deepEqual(result.rejected, { low_above_high: 1 });
  });

  it('the queue limits concurrent requests', async () => {
    replay.setFault({ kind: 'delay', ms: 60 });
    const before = replay.peakConcurrency();
    const source = yahoo({ concurrency: 2 });
    const days = ['2020-01-02', '2020-01-03', '2020-01-06', '2020-01-07', '2020-01-08', '2020-01-09'];
    const results = await Promise.all(days.map((d) => source.fetchDaily('AAPL', d, d)));
    assert.ok(results.every((r) => r.bars.length === 1));
    assert.equal(Math.max(before, replay.peakConcurrency()), 2);
  });

  it('rejects a bad date range before calling Yahoo', async () => {
    await assert.rejects(yahoo().fetchDaily('AAPL', '2020-01-10', '2020-01-02'), RangeError);
    await assert.rejects(yahoo().fetchDaily('AAPL', '2020-1-2', '2020-01-10'), RangeError);
    await assert.rejects(yahoo().fetchDaily('../etc', '2020-01-02', '2020-01-10'), UnknownTickerError);
    assert.equal(replay.requests.length, 0);
  });
});

describe('yahoo source helpers', () => {
  it('rewrites every *.yahoo.com host to the base URL and leaves others alone', () => {
    const base = 'http://127.0.0.1:9999';
    assert.equal(rewriteYahooUrl('https://query2.finance.yahoo.com/v8/finance/chart/AAPL?a=1&b=%7C', base), 'http://127.0.0.1:9999/v8/finance/chart/AAPL?a=1&b=%7C');
    assert.equal(rewriteYahooUrl('https://query1.finance.yahoo.com/v1/test/getcrumb', base), 'http://127.0.0.1:9999/v1/test/getcrumb');
    assert.equal(rewriteYahooUrl('https://finance.yahoo.com/quote/AAPL', base), 'http://127.0.0.1:9999/quote/AAPL');
    assert.equal(rewriteYahooUrl('https://guce.yahoo.com/consent', `${base}/prefix`), 'http://127.0.0.1:9999/prefix/consent');
    assert.equal(rewriteYahooUrl('https://example.com/x', base), 'https://example.com/x');
    assert.equal(rewriteYahooUrl('https://notyahoo.com/x', base), 'https://notyahoo.com/x');
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    assert.equal(parseRetryAfter('120'), 120);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', Date.parse('2015-10-21T07:28:00Z')), 30);
    assert.equal(parseRetryAfter(null), undefined);
    assert.equal(parseRetryAfter('soon'), undefined);
  });

  it('backoff is full jitter under base*2^(n-1), never below a capped Retry-After', () => {
    const s = { baseDelayMs: 200, maxDelayMs: 30_000 };
    assert.equal(backoffMs(1, s, undefined, () => 0.999), 200);
    assert.equal(backoffMs(3, s, undefined, () => 0.5), 400);
    assert.equal(backoffMs(1, s, undefined, () => 0), 0);
    assert.equal(backoffMs(20, s, undefined, () => 1), 30_000);
    assert.equal(backoffMs(1, s, 2, () => 0.5), 2_000);
    assert.equal(backoffMs(1, s, 3600, () => 0.5), 30_000);
  });
});

describe('csv source', () => {
  const source = createCsvSource(MARKET_DATA_DIR);

  it('reads <dir>/<TICKER>.csv, keeps the inclusive range', async () => {
    const result = await source.fetchDaily('AAPL', '2020-08-28', '2020-08-31');
    assert.deepEqual(result.bars.map((b) => [b.date, b.close]), [['2020-08-28', 124.80750274658203], ['2020-08-31', 129.0399932861328]]);
    assert.deepEqual(result.rejected, {});
    assert.equal(source.name, 'csv');
  });

  it('handles ^GSPC.csv and BTC-USD.csv file names', async () => {
    assert.equal((await source.fetchDaily('^GSPC', '1987-10-19', '1987-10-20')).bars[0]?.close, 224.83999633789062);
    assert.equal((await source.fetchDaily('BTC-USD', '2020-01-01', '2020-01-01')).bars[0]?.close, 7200.17431640625);
  });

  it('missing file -> UnknownTickerError naming the file', async () => {
    await assert.rejects(source.fetchDaily('NOPE', '2020-01-01', '2020-01-31'), (err: unknown) => {
      assert.ok(err instanceof UnknownTickerError);
      assert.ok(err.message.includes(`${MARKET_DATA_DIR}/NOPE.csv`), err.message);
      return true;
    });
  });

  it('refuses tickers that would leave the folder', async () => {
    await assert.rejects(source.fetchDaily('../market-data/AAPL', '2020-01-01', '2020-01-31'), UnknownTickerError);
  });
});

describe('sample source (vega-datasets sp500-2000.csv)', () => {
  const source = createSampleSource();

  it('serves ^GSPC: 2000-01-03 close 1455.219971, through 2020-04-17', async () => {
    const result = await source.fetchDaily('^GSPC', '1999-01-01', '2030-01-01');
    assert.equal(result.bars[0]?.date, '2000-01-03');
    assert.equal(result.bars[0]?.close, 1455.219971);
    assert.equal(result.bars.at(-1)?.date, '2020-04-17');
    assert.equal(result.bars.length, 5105);
    assert.equal(source.name, 'sample');
  });

  it('filters to the range (parsed once, cached)', async () => {
    const result = await source.fetchDaily('^GSPC', '2008-10-13', '2008-10-13');
    assert.equal(result.bars.length, 1);
    assert.ok(Math.abs((result.bars[0]?.close ?? 0) - 1003.35) < 0.01);
  });

  it('other tickers -> UnknownTickerError listing what the sample has', async () => {
    await assert.rejects(source.fetchDaily('AAPL', '2020-01-01', '2020-01-31'), (err: unknown) => {
      assert.ok(err instanceof UnknownTickerError);
      assert.match(err.message, /only has \^GSPC/);
      return true;
    });
  });
});

describe('createSource', () => {
  it('builds each kind', () => {
    assert.equal(createSource('sample').name, 'sample');
    assert.equal(createSource('csv', { marketDataDir: MARKET_DATA_DIR }).name, 'csv');
    assert.equal(createSource('yahoo', { yahooBaseUrl: 'http://127.0.0.1:1', timeoutMs: 100 }).name, 'yahoo');
  });

  it('csv without a folder is a configuration error', () => {
    const saved = process.env.MARKET_DATA_DIR;
    delete process.env.MARKET_DATA_DIR;
    try {
      assert.throws(() => createSource('csv'), /marketDataDir/);
    } finally {
      if (saved !== undefined) process.env.MARKET_DATA_DIR = saved;
    }
  });
});
