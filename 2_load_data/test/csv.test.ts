import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { collectBars, CsvParseError, type CsvInput, type DailyBar, parseYahooCsv } from '@stocks/common';
import { sampleCsvPath } from '../src/sources/sample.ts';
import { MARKET_DATA_DIR } from './support/yahoo-replay.ts';

const YAHOO_HEADER = 'Date,Open,High,Low,Close,Adj Close,Volume';

async function rows(input: CsvInput) {
  const out = [];
  for await (const row of parseYahooCsv(input)) out.push(row);
  return out;
}

describe('parseYahooCsv on the real files', () => {
  // Row counts and date ranges from test/fixtures/market-data/SOURCES.md.
  const expected: Array<[string, number, string, string]> = [
    ['AAPL.csv', 1509, '2018-01-02', '2023-12-29'],
    ['MSFT.csv', 753, '2021-01-04', '2023-12-29'],
    ['NVDA.csv', 314, '2021-01-04', '2022-03-31'],
    ['BTC-USD.csv', 62, '2019-12-01', '2020-01-31'],
    ['^GSPC.csv', 127, '1949-12-01', '1987-10-30'],
  ];
  for (const [file, count, first, last] of expected) {
    it(`${file}: ${count} rows, ${first} -> ${last}`, async () => {
      // A small highWaterMark makes lines straddle chunks, as on a real stream.
      const { bars, rejected } = await collectBars(createReadStream(path.join(MARKET_DATA_DIR, file), { highWaterMark: 1000 }));
      assert.equal(bars.length, count);
      assert.equal(bars[0]?.date, first);
      assert.equal(bars.at(-1)?.date, last);
      assert.deepEqual(rejected, {});
    });
  }

  it('keeps the full float values and the documented closes', async () => {
    const { bars } = await collectBars(createReadStream(path.join(MARKET_DATA_DIR, 'AAPL.csv')));
    const day = bars.find((b) => b.date === '2020-08-31');
    assert.deepEqual(day && [day.open, day.high, day.low, day.close], [127.58000183105469, 131, 126, 129.0399932861328]);
    assert.equal(bars[0]?.open, 42.540000915527344);
  });

  it('reads the lowercase vega-datasets header (date,open,...,adjclose,volume)', async () => {
    const { bars } = await collectBars(createReadStream(sampleCsvPath()));
    assert.equal(bars.length, 5105); // 5106 lines, the last without a newline
    assert.deepEqual(bars[0], {
      date: '2000-01-03', open: 1469.25, high: 1478, low: 1438.359985, close: 1455.219971, adj_close: 1455.219971, volume: 931800000,
    });
    assert.equal(bars.at(-1)?.date, '2020-04-17');
  });

  it('filters to an inclusive range while streaming', async () => {
    const { bars } = await collectBars(createReadStream(path.join(MARKET_DATA_DIR, '^GSPC.csv')), { start: '1987-10-16', end: '1987-10-19' });
    assert.deepEqual(bars.map((b) => [b.date, b.close]), [['1987-10-16', 282.70001220703125], ['1987-10-19', 224.83999633789062]]);
  });
});

describe('parseYahooCsv edge cases', () => {
  it('handles BOM, CRLF, Yahoo nulls, empty fields and no trailing newline', async () => {
    const text = `\uFEFF${YAHOO_HEADER}\r\n2020-01-02,1,2,0.5,1.5,1.4,100\r\n2020-01-03,null,null,null,null,null,null\r\n2020-01-06,,3,,2.5,,\r\n`;
    const parsed = await rows(text);
    assert.equal(parsed.length, 3);
    assert.deepEqual(parsed[0], { line: 2, date: '2020-01-02', open: 1, high: 2, low: 0.5, close: 1.5, adj_close: 1.4, volume: 100 });
    assert.equal(parsed[1]?.close, null);
    assert.deepEqual(parsed[2], { line: 4, date: '2020-01-06', open: null, high: 3, low: null, close: 2.5, adj_close: null, volume: null });
    const { bars, rejected } = await collectBars(text);
    assert.equal(bars.length, 2);
    assert.deepEqual(rejected, { null_bar: 1 });
  });

  it('matches columns by name, in any order, ignoring case, spaces, underscores and extra columns', async () => {
    const text = 'volume,ADJ_CLOSE,close,Dividends,date\n5,1.1,1.2,0,2021-03-04\n';
    const [row] = await rows(text);
    assert.deepEqual(row, { line: 2, date: '2021-03-04', open: null, high: null, low: null, close: 1.2, adj_close: 1.1, volume: 5 });
  });

  it('accepts a date with a time part (newer yfinance) and keeps the written date', async () => {
    const [row] = await rows(`${YAHOO_HEADER}\n2015-01-02 00:00:00-05:00,1,1,1,1,1,1\n`);
    assert.equal(row?.date, '2015-01-02');
  });

  it('skips blank lines but counts them in line numbers', async () => {
    const err = await rows(`${YAHOO_HEADER}\n\n2020-01-02,1,1,1,1,1,1\n\n2020-01-03,1,1,1\n`).catch((e: unknown) => e);
    assert.ok(err instanceof CsvParseError);
    assert.equal(err.line, 5);
  });

  it('reads quoted fields, as spreadsheets export them', async () => {
    const text = `"Date","Open","High","Low","Close","Adj Close","Volume"\r\n"2020-01-02","100.5","101","99.5","100.75","100.7","1200"\r\n2020-01-03,"1e2",,"null",100,100,"0"\n`;
    assert.deepEqual(await rows(text), [
      { line: 2, date: '2020-01-02', open: 100.5, high: 101, low: 99.5, close: 100.75, adj_close: 100.7, volume: 1200 },
      { line: 3, date: '2020-01-03', open: 100, high: null, low: null, close: 100, adj_close: 100, volume: 0 },
    ]);
  });

  const malformed: Array<[string, string, number, RegExp]> = [
    ['a quoted thousands separator', `${YAHOO_HEADER}\n2020-01-02,1,1,1,"1,234.5",1,1\n`, 2, /close "1,234.5" has a thousands separator; write numbers without grouping, like 1234.5/],
    ['an unquoted thousands separator', `${YAHOO_HEADER}\n2020-01-02,1,1,1,1,234.5,1,1\n`, 2, /expected 7 columns, found 8.*thousands separator, like 1,234.5, splits into two columns/],
    ['an unclosed quote', `${YAHOO_HEADER}\n2020-01-02,1,1,1,"1,1,1\n`, 2, /quote/i],
    ['wrong column count', `${YAHOO_HEADER}\n2020-01-02,1,1,1,1,1,1\n2020-01-03,1,1,1,1,1\n`, 3, /expected 7 columns, found 6/],
    ['unparsable date', `${YAHOO_HEADER}\n01/02/2020,1,1,1,1,1,1\n`, 2, /unparsable date "01\/02\/2020"/],
    ['impossible date', `${YAHOO_HEADER}\n2021-02-30,1,1,1,1,1,1\n`, 2, /invalid calendar date/],
    ['non-numeric value', `${YAHOO_HEADER}\n2020-01-02,1,abc,1,1,1,1\n`, 2, /high is not a number: "abc"/],
    ['header without Close', 'Date,Open\n2020-01-02,1\n', 1, /no Close column/],
    ['empty input', '', 1, /empty input/],
  ];
  for (const [what, text, line, message] of malformed) {
    it(`rejects ${what} with its line number`, async () => {
      await assert.rejects(rows(text), (err: unknown) => {
        assert.ok(err instanceof CsvParseError);
        assert.equal(err.line, line);
        assert.match(err.message, message);
        assert.match(err.message, new RegExp(`^line ${line}: `));
        return true;
      });
    });
  }

  it('decodes multi-byte characters split across Buffer chunks', async () => {
    const bytes = Buffer.from(`\uFEFF${YAHOO_HEADER}\n2020-01-02,1,1,1,1,1,1\n`);
    async function* oneByteAtATime() {
      for (const byte of bytes) yield Buffer.from([byte]);
    }
    const parsed = await rows(oneByteAtATime());
    assert.equal(parsed.length, 1);
    assert.equal(parsed[0]?.date, '2020-01-02');
  });
});

describe('parseYahooCsv property: write bars as Yahoo CSV, chunk anywhere, read the same bars back', () => {
  const price = fc.double({ min: 1e-4, max: 1e7, noNaN: true });
  const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null, freq: 4 });
  const barArb = fc.record({
    open: maybe(price),
    high: maybe(price),
    low: maybe(price),
    close: price,
    adj_close: maybe(price),
    volume: maybe(fc.maxSafeNat()),
  });
  const dayOffsets = fc.uniqueArray(fc.integer({ min: 0, max: 40_000 }), { maxLength: 60 }).map((xs) => xs.sort((a, b) => a - b));

  it('round-trips', async () => {
    await fc.assert(
      fc.asyncProperty(
        dayOffsets.chain((days) => fc.tuple(fc.constant(days), fc.array(barArb, { minLength: days.length, maxLength: days.length }))),
        fc.record({
          lowercaseHeader: fc.boolean(),
          bom: fc.boolean(),
          trailingNewline: fc.boolean(),
          nullAsEmpty: fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
          crlf: fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
        }),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.boolean(),
        async ([days, values], style, cutSeeds, asBuffers) => {
          const expected: DailyBar[] = days.map((d, i) => ({ date: isoDay(d), ...values[i]! }));
          const text = toCsv(expected, style);
          const parsed = await collectBars(chunked(text, cutSeeds, asBuffers));
          assert.deepEqual(parsed.bars, expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});

function isoDay(offset: number): string {
  return new Date(Date.UTC(1927, 0, 1) + offset * 86_400_000).toISOString().slice(0, 10);
}

interface CsvStyle {
  lowercaseHeader: boolean;
  bom: boolean;
  trailingNewline: boolean;
  nullAsEmpty: boolean[];
  crlf: boolean[];
}

function toCsv(bars: DailyBar[], style: CsvStyle): string {
  const header = style.lowercaseHeader ? 'date,open,high,low,close,adjclose,volume' : YAHOO_HEADER;
  const cell = (v: number | null, i: number) => (v === null ? (style.nullAsEmpty[i % 64] ? '' : 'null') : String(v));
  const lines = [header, ...bars.map((b, i) => [b.date, cell(b.open, i), cell(b.high, i + 1), cell(b.low, i + 2), String(b.close), cell(b.adj_close, i + 3), cell(b.volume, i + 4)].join(','))];
  let text = style.bom ? '\uFEFF' : '';
  lines.forEach((line, i) => {
    const last = i === lines.length - 1;
    text += line + (last && !style.trailingNewline ? '' : style.crlf[i % 64] ? '\r\n' : '\n');
  });
  return text;
}

/** The text as chunks cut at arbitrary points (bytes when asBuffers, so a cut can split the BOM). */
async function* chunked(text: string, cutSeeds: number[], asBuffers: boolean): AsyncGenerator<string | Buffer> {
  const whole = asBuffers ? Buffer.from(text) : text;
  const cuts = [...new Set(cutSeeds.map((s) => (whole.length === 0 ? 0 : s % whole.length)))].sort((a, b) => a - b);
  let from = 0;
  for (const cut of [...cuts, whole.length]) {
    yield whole.slice(from, cut);
    from = cut;
  }
}
