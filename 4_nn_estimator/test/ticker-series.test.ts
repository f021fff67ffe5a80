/**
 * Per-ticker series in /metrics are bounded (METRICS_TICKER_SERIES_MAX, METRICS_TICKERS): the
 * tickers needing attention keep theirs, the others are counted in ticker-free series.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Pool, Registry, tickerLabeler } from '@stocks/common';
import type { ChampionGaugeRow } from '@stocks/db';
import { createEstimatorMetrics } from '../src/metrics.ts';
import { selectTickers, TickerSeries, type TickerFlags } from '../src/ticker-series.ts';

const champion = (ticker: string, mae: number, naive = 1): ChampionGaugeRow => ({ ticker, version: 1, mae, mape: mae, naive_mae: naive, naive_mape: naive });
const calm: TickerFlags = { drift: false, liveWorseThanNaive: false, driftPValue: 0.5 };

describe('which tickers keep series of their own', () => {
  it('pinned first, then drifting / worse-than-naive, then the lowest validation skill', () => {
    const champions = [champion('AAA', 0.5), champion('BBB', 0.9), champion('CCC', 1.2), champion('DDD', 0.6), champion('EEE', 0.7)];
    const flags = new Map<string, TickerFlags>([
      ['AAA', calm], ['BBB', calm],
      ['DDD', { drift: true, liveWorseThanNaive: true, driftPValue: 1e-6 }],
      ['EEE', { drift: true, liveWorseThanNaive: false, driftPValue: 1e-3 }],
    ]);
    const pick = (max: number, pinned: string[] = []) => [...selectTickers(champions, flags, max, new Set(pinned)).tickers];
    // DDD: two flags; CCC: skill < 0 (one flag); EEE: drift (one flag, skill 0.3 > CCC's -0.2); then BBB (skill 0.1) before AAA (0.5).
    assert.deepEqual(pick(5), ['DDD', 'CCC', 'EEE', 'BBB', 'AAA']);
    assert.deepEqual(pick(2), ['DDD', 'CCC']);
    assert.deepEqual(pick(0), []);
    assert.deepEqual(pick(1, ['AAA', 'ZZZ']), ['AAA', 'DDD'], 'pinned tickers come on top of the max (a pinned ticker without a champion has no champion series)');
    const all = selectTickers(champions, flags, 2, new Set());
    assert.equal(all.omitted, 3);
    assert.deepEqual(all.flagged, { returns_drift: 2, live_worse_than_naive: 1, validation_worse_than_naive: 1 });
  });

  it('the estimator exports per-ticker gauges for the selected tickers only, and counts over all of them', async () => {
    const champions = Array.from({ length: 500 }, (_, i) => champion(`U${String(i + 1).padStart(4, '0')}`, 0.5 + (i === 499 ? 1 : 0)));
    // A pool that answers the champions query and the jobs count: what a scrape reads from Postgres.
    const pool = { query: async (sql: string) => ({ rows: /FROM models/.test(sql) ? champions : [] }) } as unknown as Pool;
    const series = new TickerSeries(pool, 3, ['U0007']);
    series.setFlags('U0042', { drift: true, liveWorseThanNaive: false, driftPValue: 1e-4 });
    const registry = new Registry();
    const metrics = createEstimatorMetrics(registry, pool, series);
    for (const c of champions) metrics.compiledMaxDiff.set({ ticker: c.ticker }, 1e-7);
    metrics.finalLoss.set({ ticker: 'U0300' }, 0.01);
    const text = await registry.metrics();
    const tickersOf = (name: string) => [...new Set([...text.matchAll(new RegExp(`^${name}\\{ticker="([^"]+)"`, 'gm'))].map((m) => m[1]))].sort();
    // U0007 pinned; U0042 drifts; U0500 is worse than naive; then the lowest skill (all equal: by name) U0001.
    assert.deepEqual(tickersOf('model_champion_version'), ['U0001', 'U0007', 'U0042', 'U0500']);
    assert.deepEqual(tickersOf('model_validation_mae'), ['U0001', 'U0007', 'U0042', 'U0500']);
    assert.deepEqual(tickersOf('forecast_compiled_max_abs_diff'), ['U0001', 'U0007', 'U0042', 'U0500']);
    assert.deepEqual(tickersOf('training_final_loss'), [], 'U0300 is not selected');
    assert.match(text, /^model_champions 500$/m);
    assert.match(text, /^metrics_ticker_series\{state="exported"\} 4$/m);
    assert.match(text, /^metrics_ticker_series\{state="omitted"\} 496$/m);
    assert.match(text, /^tickers_flagged\{reason="returns_drift"\} 1$/m);
    assert.match(text, /^tickers_flagged\{reason="validation_worse_than_naive"\} 1$/m);
    assert.ok(Buffer.byteLength(text) < 100 * 1024, `${Buffer.byteLength(text)} bytes`);

    // A ticker that starts drifting takes a place at the next scrape; the one it displaces leaves.
    series.setFlags('U0300', { drift: true, liveWorseThanNaive: false, driftPValue: 1e-9 });
    const next = await registry.metrics();
    const selected = [...new Set([...next.matchAll(/^model_champion_version\{ticker="([^"]+)"/gm)].map((m) => m[1]))].sort();
    assert.deepEqual(selected, ['U0007', 'U0042', 'U0300', 'U0500']);
    assert.match(next, /^training_final_loss\{ticker="U0300"\} 0.01$/m);
  });
});

describe('counters by ticker within a budget', () => {
  it('pinned and the first `max` tickers keep their label, later ones count as _other, for good', () => {
    const label = tickerLabeler({ max: 2, pinned: ['^GSPC'] });
    assert.deepEqual(['AAPL', 'MSFT', 'NVDA', '^GSPC', 'AAPL', 'TSLA', 'MSFT'].map(label), ['AAPL', 'MSFT', '_other', '^GSPC', 'AAPL', '_other', 'MSFT']);
    const none = tickerLabeler({ max: 0 });
    assert.equal(none('AAPL'), '_other');
  });
});
