/**
 * A universe of N tickers x 10 years of daily OHLCV bars for the universe bench and its CI test.
 *
 * What it makes
 * - Tickers `U0001`, `U0002`, ... (`universeTickerName`), every one on the same calendar: the
 *   `sessions` (default 2,520 = 10 x 252) business days (Monday-Friday; exchange holidays are not
 *   modelled) ending on `endDate`. The same options always give the same bars (seeded; each
 *   ticker has its own stream derived from (seed, index), so ticker i does not depend on N).
 * - The first tickers are the real histories (`includeReal`, default on): each source's last
 *   `sessions` bars, values unchanged, put on the common calendar. A source shorter than that is
 *   extended backwards by the bootstrap below, from its own returns (`realBars` says how many
 *   bars are real).
 * - The others are synthetic: one source each (round robin), resampled by a stationary block
 *   bootstrap (Politis & Romano 1994) of the source's days. A "day" is the close-to-close log
 *   return together with that day's OHLC shape: open gap ln(open / previous close), the high's
 *   excess over max(open, close) and the low's under min(open, close) (log), and the volume
 *   relative to the source's median volume. Blocks start at a uniform random day (circularly)
 *   and have geometric lengths of mean `blockLength`.
 *
 * Block length 20 (about a trading month), why: volatility clustering (|r| autocorrelated over
 * days to weeks) survives only inside a block: a lag-k pair of days comes from the same block
 * with probability (1 - 1/20)^k, 0.77 at lag 5, so the autocorrelation of |r| at lags 1-5 stays
 * clearly positive (the unit test checks it against the source and a shuffled control). Longer
 * blocks keep more of the slow decay but make the 10 years out of only ~126 pieces of a 2,500-day
 * source, and synthetic tickers drawn from the same source would then share long identical
 * stretches; 20 is also near the usual n^(1/3) rule (~14 for n = 2,520) rounded up for persistence.
 *
 * What it keeps: the marginal distribution of daily returns (fat tails, crash days), volatility
 * clustering at short lags, the joint shape of a day (gap, range and volume move with |r|).
 * What it does not keep: clustering beyond a block (long memory decays faster than in the
 * source), calendar effects (the source's Mondays land anywhere), cross-sectional correlation
 * (synthetic tickers are independent draws; there is no market factor), splits and dividends
 * (adj_close = close), price levels (each starts at a seeded level between 10 and 400).
 * Returns of a synthetic ticker are scaled by a seeded factor in [0.8, 1.25] so tickers from one
 * source do not share one volatility level (scaling leaves the autocorrelation of |r| unchanged).
 *
 * Sources: benches pass the shared real histories (`loadUniverseSources(SHARED_MARKET_DATA_DIR)`,
 * every CSV there, read with the project's one market-data reader); tests, which must pass on a
 * clone with nothing beside it, use the default: vega-datasets' real S&P 500 history
 * (2000-2020, npm) and the shipped AAPL and MSFT fixtures.
 */
import { existsSync, readdirSync, readFileSync, createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { collectBars, type DailyBar } from '@stocks/common';
import { readMarketData } from './market-data.ts';
import { mulberry32 } from '../../4_nn_estimator/src/model/random.ts';

/** One real history the universe is made from. */
export interface UniverseSource {
  /** Where it comes from (`AAPL`, `S&P 500 (vega-datasets)`); never a universe ticker name. */
  name: string;
  bars: DailyBar[];
}

export interface UniverseOptions {
  /** Number of tickers (>= 1). */
  tickers: number;
  /** Bars per ticker; default 2,520 (10 years of 252 sessions). */
  sessions?: number;
  /** Last business day of the calendar (YYYY-MM-DD; a weekend moves back to Friday); default 2025-12-31. */
  endDate?: string;
  /** Default 1. */
  seed?: number;
  /** Mean block length of the stationary bootstrap, in sessions; default 20 (see the header). */
  blockLength?: number;
  /** The first tickers are the sources themselves (re-dated); default true. */
  includeReal?: boolean;
}

export interface UniverseTicker {
  /** `U0001`... */
  ticker: string;
  /** The source's name. */
  source: string;
  synthetic: boolean;
  /** How many of the bars (the last ones) are the source's real bars; 0 for a synthetic ticker. */
  realBars: number;
  bars: DailyBar[];
}

export const UNIVERSE_SESSIONS = 2520;
export const UNIVERSE_END_DATE = '2025-12-31';
export const UNIVERSE_BLOCK_LENGTH = 20;

/** `U0001` for index 0: the universe's ticker names (valid Yahoo-style symbols, sorted like their index). */
export function universeTickerName(index: number): string {
  return `U${String(index + 1).padStart(4, '0')}`;
}

/**
 * The sources: every `*.csv` in `dir` (the shared histories, for benches), or without `dir` the
 * ones a clone has: vega-datasets' S&P 500 2000-2020 and the shipped AAPL and MSFT fixtures.
 * Sorted by name so the universe does not depend on directory order.
 */
export async function loadUniverseSources(dir?: string): Promise<UniverseSource[]> {
  const sources: UniverseSource[] = [];
  if (dir) {
    const files = readdirSync(dir).filter((f) => f.endsWith('.csv')).sort();
    for (const file of files) {
      const name = file.slice(0, -'.csv'.length);
      sources.push({ name, bars: await readMarketData(name, undefined, dir) });
    }
  } else {
    const { bars } = await collectBars(createReadStream(vegaSp500Path()));
    sources.push({ name: 'S&P 500 (vega-datasets)', bars });
    for (const name of ['AAPL', 'MSFT']) sources.push({ name, bars: await readMarketData(name) });
  }
  const usable = sources.filter((s) => s.bars.length >= 250);
  if (usable.length === 0) throw new Error(`no usable source history (>= 250 bars) in ${dir ?? 'the shipped data'}`);
  return usable;
}

/** One ticker of the universe (index 0-based); the same for any universe size. */
export function universeTicker(sources: UniverseSource[], index: number, options: Omit<UniverseOptions, 'tickers'> = {}): UniverseTicker {
  if (sources.length === 0) throw new Error('universeTicker needs at least one source');
  const sessions = options.sessions ?? UNIVERSE_SESSIONS;
  const seed = options.seed ?? 1;
  const blockLength = options.blockLength ?? UNIVERSE_BLOCK_LENGTH;
  const includeReal = options.includeReal ?? true;
  if (!Number.isInteger(sessions) || sessions < 2) throw new Error(`sessions must be an integer >= 2, got ${sessions}`);
  if (!(blockLength >= 1)) throw new Error(`blockLength must be >= 1, got ${blockLength}`);
  const dates = businessDays(options.endDate ?? UNIVERSE_END_DATE, sessions);
  const rng = mulberry32(hashSeed(seed, index));
  const ticker = universeTickerName(index);
  const realCount = includeReal ? sources.length : 0;

  if (index < realCount) {
    const source = sources[index]!;
    const real = source.bars.slice(-sessions);
    const missing = sessions - real.length;
    const prefix = missing > 0 ? backcast(source, real[0]!, missing, blockLength, rng) : [];
    const bars = [...prefix, ...real].map((bar, i) => ({ ...bar, date: dates[i]! }));
    return { ticker, source: source.name, synthetic: false, realBars: real.length, bars };
  }
  const source = sources[(index - realCount) % sources.length]!;
  const days = sourceDays(source);
  const volScale = 0.8 * Math.pow(1.25 / 0.8, rng()); // log-uniform in [0.8, 1.25]
  const startClose = 10 * Math.pow(40, rng()); // log-uniform in [10, 400]
  const baseVolume = Math.round(1e5 * Math.pow(1000, rng())); // 1e5 .. 1e8 shares a day
  const picks = stationaryBootstrap(days.length, sessions, blockLength, rng);
  const bars: DailyBar[] = [];
  let previousClose = startClose;
  for (let i = 0; i < sessions; i++) {
    const day = days[picks[i]!]!;
    const bar = shapeBar(dates[i]!, previousClose, day, volScale, baseVolume);
    bars.push(bar);
    previousClose = bar.close;
  }
  return { ticker, source: source.name, synthetic: true, realBars: 0, bars };
}

/** The whole universe in memory (500 x 2,520 bars is ~150 MB of objects: stream `universeTicker` when that matters). */
export function generateUniverse(sources: UniverseSource[], options: UniverseOptions): UniverseTicker[] {
  if (!Number.isInteger(options.tickers) || options.tickers < 1) throw new Error(`tickers must be an integer >= 1, got ${options.tickers}`);
  return Array.from({ length: options.tickers }, (_, i) => universeTicker(sources, i, options));
}

/** The `count` business days (Mon-Fri, UTC) ending on `endDate` (or the Friday before it), oldest first. */
export function businessDays(endDate: string, count: number): string[] {
  const day = new Date(`${endDate}T00:00:00Z`);
  if (Number.isNaN(day.getTime())) throw new Error(`not a date: ${endDate}`);
  const out: string[] = [];
  while (out.length < count) {
    const weekday = day.getUTCDay();
    if (weekday !== 0 && weekday !== 6) out.push(day.toISOString().slice(0, 10));
    day.setUTCDate(day.getUTCDate() - 1);
  }
  return out.reverse();
}

/** The daily log returns of bars (close to close), for tests and benches. */
export function logReturns(bars: readonly DailyBar[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < bars.length; i++) out.push(Math.log(bars[i]!.close / bars[i - 1]!.close));
  return out;
}

// --- internals ---------------------------------------------------------------------------------

/** One source day, as relative quantities that can be replayed from any previous close. */
interface SourceDay {
  logReturn: number;
  /** ln(open / previous close). */
  gap: number;
  /** ln(high / max(open, close)) >= 0. */
  highExcess: number;
  /** ln(min(open, close) / low) >= 0. */
  lowExcess: number;
  /** volume / the source's median volume (1 when the source has none that day). */
  relativeVolume: number;
}

const daysCache = new WeakMap<UniverseSource, SourceDay[]>();

function sourceDays(source: UniverseSource): SourceDay[] {
  const cached = daysCache.get(source);
  if (cached) return cached;
  const bars = source.bars;
  const volumes = bars.map((b) => b.volume ?? 0).filter((v) => v > 0).sort((a, b) => a - b);
  const medianVolume = volumes.length ? volumes[Math.floor(volumes.length / 2)]! : 0;
  const days: SourceDay[] = [];
  for (let i = 1; i < bars.length; i++) {
    const prev = bars[i - 1]!.close;
    const { open, high, low, close, volume } = bars[i]!;
    if (!(prev > 0 && close > 0)) continue;
    const logReturn = Math.log(close / prev);
    // Old index rows have Open 0 or no high/low: replay them as a bar without gap or range.
    const shaped = open != null && high != null && low != null && open > 0 && low > 0 && high >= Math.max(open, close) && low <= Math.min(open, close);
    days.push({
      logReturn,
      gap: shaped ? Math.log(open / prev) : 0,
      highExcess: shaped ? Math.log(high / Math.max(open, close)) : 0,
      lowExcess: shaped ? Math.log(Math.min(open, close) / low) : 0,
      relativeVolume: medianVolume > 0 && volume != null && volume > 0 ? volume / medianVolume : 1,
    });
  }
  if (days.length < 2) throw new Error(`source ${source.name} has fewer than 3 usable bars`);
  daysCache.set(source, days);
  return days;
}

/** Indexes into `n` days: a new block (uniform start) with probability 1/blockLength, else the next day (circularly). */
function stationaryBootstrap(n: number, length: number, blockLength: number, rng: () => number): number[] {
  const out: number[] = [];
  let at = Math.floor(rng() * n);
  for (let i = 0; i < length; i++) {
    if (i > 0) at = rng() < 1 / blockLength ? Math.floor(rng() * n) : (at + 1) % n;
    out.push(at);
  }
  return out;
}

function shapeBar(date: string, previousClose: number, day: SourceDay, volScale: number, baseVolume: number): DailyBar {
  const close = previousClose * Math.exp(day.logReturn * volScale);
  const open = previousClose * Math.exp(day.gap * volScale);
  const high = Math.max(open, close) * Math.exp(day.highExcess * volScale);
  const low = Math.min(open, close) * Math.exp(-day.lowExcess * volScale);
  const round = (x: number) => Math.round(x * 1e4) / 1e4;
  const c = round(close);
  const o = round(open);
  // Rounding must not break high >= max(open, close) >= min(open, close) >= low.
  const h = Math.max(round(high), o, c);
  const l = Math.min(round(low), o, c);
  return { date, open: o, high: h, low: l, close: c, adj_close: c, volume: Math.round(baseVolume * day.relativeVolume) };
}

/** `count` bars before `first` made by the bootstrap walked backwards from it (prices then end where the real ones start). */
function backcast(source: UniverseSource, first: DailyBar, count: number, blockLength: number, rng: () => number): DailyBar[] {
  const days = sourceDays(source);
  const ratio = first.adj_close != null && first.close > 0 ? first.adj_close / first.close : 1;
  const volumes = source.bars.map((b) => b.volume ?? 0).filter((v) => v > 0).sort((a, b) => a - b);
  const baseVolume = volumes.length ? volumes[Math.floor(volumes.length / 2)]! : 0;
  // Walk back from the first real close: bar i's return is picks[i]'s, the first real bar's is picks[count]'s.
  const picks = stationaryBootstrap(days.length, count + 1, blockLength, rng);
  const closes = new Array<number>(count + 1);
  closes[count] = first.close;
  for (let i = count - 1; i >= 0; i--) closes[i] = closes[i + 1]! / Math.exp(days[picks[i + 1]!]!.logReturn);
  const bars: DailyBar[] = [];
  for (let i = 0; i < count; i++) {
    const previousClose = i === 0 ? closes[0]! / Math.exp(days[picks[0]!]!.logReturn) : closes[i - 1]!;
    const bar = shapeBar('', previousClose, days[picks[i]!]!, 1, baseVolume);
    bars.push({ ...bar, adj_close: Math.round(bar.close * ratio * 1e4) / 1e4, volume: baseVolume > 0 ? bar.volume : null });
  }
  return bars;
}

function vegaSp500Path(): string {
  const require = createRequire(import.meta.url);
  let dir = path.dirname(require.resolve('vega-datasets'));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'vega-datasets') break;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the vega-datasets package root');
    dir = parent;
  }
  return path.join(dir, 'data', 'sp500-2000.csv');
}

function hashSeed(seed: number, index: number): number {
  let h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Bars as a Yahoo-style CSV file (what the loader's csv source and POST /import read). */
export function yahooCsv(bars: readonly DailyBar[]): string {
  const lines = ['Date,Open,High,Low,Close,Adj Close,Volume'];
  for (const b of bars) lines.push(`${b.date},${b.open ?? ''},${b.high ?? ''},${b.low ?? ''},${b.close},${b.adj_close ?? b.close},${b.volume ?? ''}`);
  return `${lines.join('\n')}\n`;
}

/** fn over items with at most `limit` calls in flight, results in the items' order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  }));
  return out;
}
