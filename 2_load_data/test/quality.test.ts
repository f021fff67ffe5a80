import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DailyBar } from '@stocks/common';
import { readMarketData } from '../../test/support/market-data.ts';
import { cleanBars } from '../src/quality.ts';

const bar = (date: string, over: Partial<DailyBar> = {}): DailyBar => ({
  date, open: 10, high: 11, low: 9, close: 10.5, adj_close: 10.4, volume: 1000, ...over,
});

describe('cleanBars', () => {
  it('sorts by date and keeps the last of duplicate dates', () => {
    const { bars, rejected } = cleanBars([bar('2020-01-03'), bar('2020-01-02', { close: 10 }), bar('2020-01-02', { close: 10.2 })]);
    assert.deepEqual(bars.map((b) => [b.date, b.close]), [['2020-01-02', 10.2], ['2020-01-03', 10.5]]);
    assert.deepEqual(rejected, { duplicate_date: 1 });
  });

  it('rejects a close that is not finite and > 0 as invalid_close', () => {
    const input = [0, -1, Number.NaN, Number.POSITIVE_INFINITY].map((close, i) => bar(`2020-01-0${i + 2}`, { close }));
    const { bars, rejected } = cleanBars([...input, bar('2020-01-09')]);
    assert.equal(bars.length, 1);
    assert.deepEqual(rejected, { invalid_close: 4 });
  });

  it('turns a null/0/non-finite open, high or low into null and keeps the bar', () => {
    const { bars, rejected } = cleanBars([
      bar('2020-01-02', { open: 0 }),
      bar('2020-01-03', { high: null, low: Number.NaN }),
      bar('2020-01-06', { open: Number.POSITIVE_INFINITY, adj_close: 0 }),
    ]);
    assert.deepEqual(rejected, {});
    assert.deepEqual(bars.map((b) => [b.open, b.high, b.low, b.adj_close]), [[null, 11, 9, 10.4], [10, null, null, 10.4], [null, 11, 9, null]]);
  });

  it('rejects low > high as low_above_high', () => {
    const { bars, rejected } = cleanBars([bar('2020-01-02', { low: 12, high: 11, close: 11.5 })]);
    assert.equal(bars.length, 0);
    assert.deepEqual(rejected, { low_above_high: 1 });
  });

  it('rejects a close outside [low, high] by more than 0.5%, checking only present bounds', () => {
    const { bars, rejected } = cleanBars([
      bar('2020-01-02', { high: 11, close: 11.05 }), // +0.45%: kept
      bar('2020-01-03', { high: 11, close: 11.06 }), // +0.55%: rejected
      bar('2020-01-06', { low: 9, close: 8.96 }), // -0.44%: kept
      bar('2020-01-07', { low: 9, close: 8.95 }), // -0.56%: rejected
      bar('2020-01-08', { high: null, low: null, close: 500 }), // no bounds: kept
      bar('2020-01-09', { high: null, low: 9, close: 500 }), // only low present: kept
    ]);
    assert.deepEqual(bars.map((b) => b.date), ['2020-01-02', '2020-01-06', '2020-01-08', '2020-01-09']);
    assert.deepEqual(rejected, { close_outside_range: 2 });
  });

  it('rejects negative volume but keeps 0 and null', () => {
    const { bars, rejected } = cleanBars([bar('2020-01-02', { volume: -5 }), bar('2020-01-03', { volume: 0 }), bar('2020-01-06', { volume: null })]);
    assert.deepEqual(bars.map((b) => b.volume), [0, null]);
    assert.deepEqual(rejected, { negative_volume: 1 });
  });

  it('rejects a malformed date', () => {
    assert.deepEqual(cleanBars([bar('2020-1-2')]).rejected, { invalid_date: 1 });
  });

  it('^GSPC: keeps every real row; 1962-01-02..1982-04-19 keep their close with open null; pre-1950 zero volume kept', async () => {
    const raw = await readMarketData('^GSPC');
    const { bars, rejected } = cleanBars(raw);
    assert.deepEqual(rejected, {});
    assert.equal(bars.length, 127);
    // test/fixtures/market-data/SOURCES.md: Open is 0.0 on 34 rows of the fixture (5075 of the full file)
    const openless = bars.filter((b) => b.open === null);
    assert.equal(openless.length, 34);
    assert.equal(openless[0]?.date, '1962-01-02');
    assert.equal(openless.at(-1)?.date, '1982-04-19');
    assert.ok(openless.every((b) => b.close > 0 && b.high !== null && b.low !== null));
    assert.equal(bars.filter((b) => b.date < '1950-01-01' && b.volume === 0).length, 21);
    assert.equal(bars.find((b) => b.date === '1987-10-19')?.close, 224.83999633789062);
  });
});
