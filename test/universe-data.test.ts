/**
 * The universe generator the universe bench and its CI test load: deterministic, on one
 * business-day calendar, valid OHLCV bars, and volatility clustering kept by the block bootstrap.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { TICKER_PATTERN } from '@stocks/common';
import {
  businessDays,
  generateUniverse,
  loadUniverseSources,
  logReturns,
  universeTicker,
  UNIVERSE_SESSIONS,
  type UniverseSource,
} from './support/universe-data.ts';

/** Autocorrelation of xs at `lag`. */
function autocorrelation(xs: readonly number[], lag: number): number {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    den += (xs[i]! - mean) ** 2;
    if (i >= lag) num += (xs[i]! - mean) * (xs[i - lag]! - mean);
  }
  return num / den;
}

const absAcf = (returns: readonly number[]) => [1, 2, 3, 4, 5].map((lag) => autocorrelation(returns.map(Math.abs), lag));

function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('universe data generator', () => {
  let sources: UniverseSource[];
  before(async () => {
    sources = await loadUniverseSources();
  });

  it('reads the sources a clone ships (vega-datasets S&P 500, AAPL and MSFT fixtures)', () => {
    assert.deepEqual(sources.map((s) => s.name), ['S&P 500 (vega-datasets)', 'AAPL', 'MSFT']);
    assert.ok(sources[0]!.bars.length > 5000);
  });

  it('makes N tickers of 2,520 valid bars on one business-day calendar', () => {
    const universe = generateUniverse(sources, { tickers: 12, endDate: '2025-12-31' });
    assert.equal(universe.length, 12);
    assert.deepEqual(universe.map((u) => u.ticker).slice(0, 3), ['U0001', 'U0002', 'U0003']);
    assert.equal(universe[11]!.ticker, 'U0012');
    assert.deepEqual(universe.map((u) => u.synthetic), [false, false, false, ...Array(9).fill(true)]);
    const calendar = businessDays('2025-12-31', UNIVERSE_SESSIONS);
    assert.equal(calendar.at(-1), '2025-12-31');
    for (const u of universe) {
      assert.match(u.ticker, TICKER_PATTERN);
      assert.equal(u.bars.length, UNIVERSE_SESSIONS);
      assert.deepEqual(u.bars.map((b) => b.date), calendar);
      for (const b of u.bars) {
        const day = new Date(`${b.date}T00:00:00Z`).getUTCDay();
        assert.ok(day >= 1 && day <= 5, `${u.ticker} ${b.date} is a weekend`);
        assert.ok(b.close > 0 && b.open! > 0 && b.low! > 0, `${u.ticker} ${b.date} non-positive price`);
        assert.ok(b.high! >= Math.max(b.open!, b.close) && b.low! <= Math.min(b.open!, b.close), `${u.ticker} ${b.date} OHLC out of order`);
        assert.ok(b.volume === null || (Number.isInteger(b.volume) && b.volume >= 0));
      }
    }
    // Real tickers keep their source's last bars unchanged but for the date.
    const aapl = universe[1]!;
    const source = sources[1]!.bars;
    assert.equal(aapl.source, 'AAPL');
    assert.equal(aapl.realBars, source.length);
    assert.deepEqual({ ...aapl.bars.at(-1)!, date: '' }, { ...source.at(-1)!, date: '' });
    assert.deepEqual({ ...aapl.bars.at(-source.length)!, date: '' }, { ...source[0]!, date: '' });
    assert.equal(universe[0]!.realBars, UNIVERSE_SESSIONS);
  });

  it('is deterministic: the same seed gives the same bars, another seed others; ticker i does not depend on N', () => {
    const a = generateUniverse(sources, { tickers: 6, seed: 7 });
    const b = generateUniverse(sources, { tickers: 6, seed: 7 });
    assert.deepEqual(a, b);
    const other = generateUniverse(sources, { tickers: 6, seed: 8 });
    assert.notDeepEqual(a[5]!.bars, other[5]!.bars);
    assert.deepEqual(universeTicker(sources, 5, { seed: 7 }), a[5]);
    // Two synthetic tickers from the same source are different series.
    assert.equal(a[3]!.source, sources[0]!.name);
    const c = universeTicker(sources, 6, { seed: 7 });
    assert.equal(c.source, sources[0]!.name);
    assert.notDeepEqual(logReturns(a[3]!.bars), logReturns(c.bars));
  });

  it('keeps volatility clustering: |r| autocorrelated at lags 1-5 as in the source, ~0 for a shuffled control', () => {
    const sp500 = sources[0]!;
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    const sourceAcf = absAcf(logReturns(sp500.bars));
    // Six synthetic tickers bootstrapped from the S&P 500 source (indexes 3, 6, 9, ...): one
    // series' sample autocorrelation swings with the crash days it happened to draw, their mean less.
    const tickers = [3, 6, 9, 12, 15, 18].map((index) => universeTicker(sources, index, { seed: 3 }));
    const acfs = tickers.map((u) => absAcf(logReturns(u.bars)));
    const controls = tickers.map((u, i) => absAcf(shuffled(logReturns(u.bars), i + 1)));
    for (const u of tickers) assert.equal(u.source, sp500.name);
    for (let lag = 0; lag < 5; lag++) {
      const synthetic = mean(acfs.map((a) => a[lag]!));
      const control = mean(controls.map((a) => a[lag]!));
      const detail = `lag ${lag + 1}: synthetic ${synthetic.toFixed(3)}, source ${sourceAcf[lag]!.toFixed(3)}, shuffled ${control.toFixed(3)}`;
      assert.ok(synthetic > 0.15, detail);
      // Pairs of days from different blocks are independent, so the bootstrap keeps about (1 - 1/20)^lag of it.
      assert.ok(synthetic > 0.5 * sourceAcf[lag]!, detail);
      // Shuffling destroys the clustering: within noise of 0 (se of one series ~ 1/sqrt(2519) = 0.02).
      assert.ok(Math.abs(control) < 0.04, detail);
    }
    for (const acf of acfs) assert.ok(Math.min(...acf) > 0.05, `every synthetic series clusters: ${acf.map((a) => a.toFixed(2)).join(' ')}`);
  });

  it('rejects a universe it cannot make', () => {
    assert.throws(() => generateUniverse(sources, { tickers: 0 }), /tickers must be/);
    assert.throws(() => universeTicker([], 0), /at least one source/);
    assert.throws(() => universeTicker(sources, 0, { sessions: 1 }), /sessions must be/);
  });
});
