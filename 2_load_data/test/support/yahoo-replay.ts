/**
 * A local stand-in for Yahoo Finance's v8 chart API, for tests and offline runs.
 *
 * `GET /v8/finance/chart/:symbol?period1&period2&interval=1d&events=...` answers in Yahoo's exact
 * JSON shape, built from the real CSVs in test/fixtures/market-data (`<SYMBOL>.csv`): bars with
 * period1 <= timestamp < period2, equities stamped at the NYSE open in UTC (13:30 or 14:30 with
 * US DST), crypto (`*-USD`) at 00:00 UTC. Recorded fixtures (yahoo-fixtures/*.json) are replayed
 * verbatim when symbol, period1 and period2 match. It also answers the cookie/crumb endpoints
 * yahoo-finance2 uses for modules that need a crumb (chart() doesn't).
 *
 * Faults (`setFault`) apply to chart requests, for the next `times` requests or until cleared.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { MARKET_DATA_DIR } from '../../../test/support/market-data.ts';

export { MARKET_DATA_DIR };
export const FIXTURES_DIR = path.join(MARKET_DATA_DIR, 'yahoo-fixtures');

export const NOT_FOUND_BODY = {
  chart: { result: null, error: { code: 'Not Found', description: 'No data found, symbol may be delisted' } },
};

type QuoteField = 'open' | 'high' | 'low' | 'close' | 'volume';

export type Fault = (
  | { kind: 'status'; status: number; retryAfter?: number | string; body?: string }
  | { kind: 'hang' }
  /** Answer normally, but only after `ms`. */
  | { kind: 'delay'; ms: number }
  | { kind: 'reset' }
  | { kind: 'garbage'; body?: string }
  /** Yahoo's null bar: every quote value of one bar (by exchange date, default the first) is null. */
  | { kind: 'null-bar'; date?: string }
  /** One value of one bar replaced, by default close := "abc". */
  | { kind: 'bad-value'; date?: string; field?: QuoteField; value?: unknown }
  | { kind: 'unknown-symbol' }
) & {
  /** How many chart requests get the fault; default: all until setFault(null). */
  times?: number;
  /** How many chart requests are answered normally before the fault starts; default 0. */
  skip?: number;
  /** Only chart requests for these symbols get the fault (and count for times/skip); default every symbol. */
  symbols?: string[];
};

export interface ReplayRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
}

export interface ReplayOptions {
  /** Where `<SYMBOL>.csv` live. Default MARKET_DATA_DIR. */
  dataDir?: string;
  /** Fixture files (names in FIXTURES_DIR or absolute paths) to replay verbatim when they match. */
  fixtures?: string[];
  /** Serve no bar after this date (YYYY-MM-DD), as Yahoo before that day's close; default: every bar. */
  servedThrough?: string;
}

export interface YahooReplay {
  url: string;
  close(): Promise<void>;
  requests: ReplayRequest[];
  /** Replaces every fault with this one (null: none). */
  setFault(fault: Fault | null): void;
  /** Adds a fault beside the others (e.g. one per symbol); a request takes the first that applies. */
  addFault(fault: Fault): void;
  /** Reveal bars up to this date (null: all), e.g. the next trading day of a nightly cycle. */
  setServedThrough(date: string | null): void;
  /** Most chart requests in progress at the same time so far. */
  peakConcurrency(): number;
}

export async function startYahooReplay(opts: ReplayOptions = {}): Promise<YahooReplay> {
  const dataDir = opts.dataDir ?? MARKET_DATA_DIR;
  const fixtures = (opts.fixtures ?? []).map(loadFixture);
  const requests: ReplayRequest[] = [];
  const sockets = new Set<Socket>();
  const csvCache = new Map<string, Promise<CsvRow[] | null>>();
  let faults: Fault[] = [];
  let servedThrough = opts.servedThrough ?? null;
  let inFlight = 0;
  let peak = 0;

  /** The fault for this chart request, consuming one of its `times`. */
  const takeFault = (symbol: string): Fault | null => {
    const current = faults.find((f) => !f.symbols || f.symbols.includes(symbol));
    if (!current) return null;
    if (current.skip) {
      current.skip -= 1;
      return null;
    }
    if (current.times !== undefined) {
      current.times -= 1;
      if (current.times <= 0) faults = faults.filter((f) => f !== current);
    }
    return current;
  };

  const rows = (symbol: string) => {
    let cached = csvCache.get(symbol);
    if (!cached) {
      cached = readCsv(dataDir, symbol);
      csvCache.set(symbol, cached);
    }
    return cached;
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://replay.local');
    requests.push({ method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers });
    route(url, req, res).catch((err: unknown) => sendJson(res, 500, { error: String(err) }));
  });

  async function route(url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chart = /^\/v8\/finance\/chart\/([^/]+)$/.exec(url.pathname);
    if (chart?.[1]) return answerChart(decodeURIComponent(chart[1]), url.searchParams, req, res);
    if (url.pathname.startsWith('/quote/')) return answerCookie(res);
    if (url.pathname === '/v1/test/getcrumb') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('replay-crumb');
    res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
  }

  async function answerChart(symbol: string, query: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse) {
    const f = takeFault(symbol);
    if (f && applyTransportFault(f, req, res)) return;
    inFlight += 1;
    peak = Math.max(peak, inFlight);
    try {
      if (f?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, f.ms));
      await answerChartNormally(symbol, query, res, f);
    } finally {
      inFlight -= 1;
    }
  }

  async function answerChartNormally(symbol: string, query: URLSearchParams, res: http.ServerResponse, f: Fault | null) {

    const period1 = Number(query.get('period1') ?? 0);
    const period2 = Number(query.get('period2') ?? Math.floor(Date.now() / 1000));
    const fixture = fixtures.find((x) => x.symbol === symbol && x.period1 === period1 && x.period2 === period2);
    let status = 200;
    let body: unknown;
    if (fixture) {
      status = fixture.status;
      body = structuredClone(fixture.body);
    } else if (period1 > period2) {
      status = 400;
      body = chartError('Bad Request', `Invalid input - start date cannot be after end date. startDate = ${period1}, endDate = ${period2}`);
    } else {
      const data = await rows(symbol);
      if (!data) [status, body] = [404, NOT_FOUND_BODY];
      else body = buildChart(symbol, servedThrough ? data.filter((row) => row.date <= servedThrough!) : data, period1, period2);
    }
    if (f?.kind === 'null-bar' || f?.kind === 'bad-value') corruptBar(body, f);
    sendJson(res, status, body);
  }

  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    setFault(next) {
      faults = next ? [{ ...next }] : [];
    },
    addFault(next) {
      faults.push({ ...next });
    },
    setServedThrough(date) {
      servedThrough = date;
    },
    peakConcurrency: () => peak,
    async close() {
      for (const socket of sockets) socket.destroy(); // includes requests left hanging on purpose
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Faults that replace the whole answer. Returns true when the response has been dealt with. */
function applyTransportFault(f: Fault, req: http.IncomingMessage, res: http.ServerResponse): boolean {
  switch (f.kind) {
    case 'hang':
      return true; // never answer; close() destroys the socket
    case 'reset':
      req.socket.resetAndDestroy(); // TCP RST: the client sees ECONNRESET
      return true;
    case 'garbage':
      res.writeHead(200, { 'content-type': 'application/json;charset=utf-8' });
      res.end(f.body ?? '<!doctype html><html><body>Will be right back...</body></html>');
      return true;
    case 'unknown-symbol':
      sendJson(res, 404, NOT_FOUND_BODY);
      return true;
    case 'status': {
      const headers: http.OutgoingHttpHeaders = {};
      if (f.retryAfter !== undefined) headers['retry-after'] = String(f.retryAfter);
      if (f.status === 429) {
        res.writeHead(429, { ...headers, 'content-type': 'text/html' }).end(f.body ?? 'Too Many Requests\r\n');
      } else {
        const text = http.STATUS_CODES[f.status] ?? 'Error';
        res.writeHead(f.status, { ...headers, 'content-type': 'application/json;charset=utf-8' });
        res.end(f.body ?? JSON.stringify(chartError(text, text)));
      }
      return true;
    }
    default:
      return false;
  }
}

function answerCookie(res: http.ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/html',
    'set-cookie': 'A3=d=replay&S=replay; Max-Age=31557600; Domain=.yahoo.com; Path=/; Secure; HttpOnly; SameSite=None',
  });
  res.end('<html><body>quote</body></html>');
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json;charset=utf-8', 'cache-control': 'public, max-age=10, stale-while-revalidate=20' });
  res.end(JSON.stringify(body));
}

function chartError(code: string, description: string) {
  return { chart: { result: null, error: { code, description } } };
}

// -------------------------------------------------------------------------------------------
// Building a chart body from CSV rows.

interface CsvRow {
  date: string;
  open: number | null;
  high: number | null;
  low: number | null;
  close: number | null;
  adjclose: number | null;
  volume: number | null;
}

/** A deliberately separate, minimal reader, so the replay doesn't depend on the parser under test. */
async function readCsv(dir: string, symbol: string): Promise<CsvRow[] | null> {
  if (!/^\^?[A-Za-z0-9.\-=]+$/.test(symbol)) return null;
  let text: string;
  try {
    text = await readFile(path.join(dir, `${symbol}.csv`), 'utf8');
  } catch {
    return null;
  }
  const [header = '', ...lines] = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const names = header.split(',').map((h) => h.replace(/[\s_]/g, '').toLowerCase());
  const col = (name: string) => names.indexOf(name);
  const num = (cells: string[], name: string) => {
    const v = cells[col(name)];
    return v === undefined || v === '' || v === 'null' ? null : Number(v);
  };
  return lines
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const cells = line.split(',');
      return {
        date: cells[col('date')] ?? '',
        open: num(cells, 'open'),
        high: num(cells, 'high'),
        low: num(cells, 'low'),
        close: num(cells, 'close'),
        adjclose: num(cells, 'adjclose'),
        volume: num(cells, 'volume'),
      };
    });
}

interface Profile {
  exchangeName: string;
  fullExchangeName: string;
  instrumentType: string;
  timezone: string;
  exchangeTimezoneName: string;
  crypto: boolean;
}

function profile(symbol: string): Profile {
  if (/-USD$/i.test(symbol)) {
    return { exchangeName: 'CCC', fullExchangeName: 'CCC', instrumentType: 'CRYPTOCURRENCY', timezone: 'UTC', exchangeTimezoneName: 'UTC', crypto: true };
  }
  const ny = { timezone: 'EST', exchangeTimezoneName: 'America/New_York', crypto: false };
  if (symbol.startsWith('^')) return { ...ny, exchangeName: 'SNP', fullExchangeName: 'SNP', instrumentType: 'INDEX' };
  return { ...ny, exchangeName: 'NMS', fullExchangeName: 'NasdaqGS', instrumentType: 'EQUITY' };
}

const nyHour = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: '2-digit', hourCycle: 'h23' });

/** Unix seconds Yahoo stamps a daily bar with: NYSE 09:30 New York time, or 00:00 UTC for crypto. */
export function barTimestamp(date: string, crypto: boolean): number {
  const midnight = Date.parse(`${date}T00:00:00Z`) / 1000;
  if (crypto) return midnight;
  const winter = midnight + (14 * 60 + 30) * 60; // 14:30 UTC = 09:30 EST
  return nyHour.format(new Date(winter * 1000)) === '09' ? winter : winter - 3600; // EDT: 13:30 UTC
}

function gmtOffset(p: Profile, at: number): number {
  if (p.crypto) return 0;
  return nyHour.format(new Date(at * 1000)) === '09' ? -18000 : -14400; // at = an NYSE open stamp
}

export function buildChart(symbol: string, rows: CsvRow[], period1: number, period2: number) {
  const p = profile(symbol);
  const stamped = rows.map((row) => ({ row, ts: barTimestamp(row.date, p.crypto) }));
  const inRange = stamped.filter(({ ts }) => ts >= period1 && ts < period2);
  const before = stamped.filter(({ ts }) => ts < period1).at(-1);
  const first = stamped[0];
  const last = stamped.at(-1);
  const lastTs = last?.ts ?? period2;
  const tradingPeriod = (start: number, end: number) => ({ timezone: p.timezone, start, end, gmtoffset: gmtOffset(p, lastTs) });
  const meta = {
    currency: 'USD',
    symbol,
    exchangeName: p.exchangeName,
    fullExchangeName: p.fullExchangeName,
    instrumentType: p.instrumentType,
    firstTradeDate: first?.ts ?? null,
    regularMarketTime: lastTs,
    hasPrePostMarketData: !p.crypto,
    gmtoffset: gmtOffset(p, lastTs),
    timezone: p.timezone,
    exchangeTimezoneName: p.exchangeTimezoneName,
    regularMarketPrice: last?.row.close ?? null,
    longName: symbol,
    shortName: symbol,
    chartPreviousClose: before?.row.close ?? inRange[0]?.row.open ?? null,
    priceHint: 2,
    currentTradingPeriod: {
      pre: tradingPeriod(lastTs - 19800, lastTs),
      regular: tradingPeriod(lastTs, lastTs + 23400),
      post: tradingPeriod(lastTs + 23400, lastTs + 37800),
    },
    dataGranularity: '1d',
    range: '',
    validRanges: ['1d', '5d', '1mo', '3mo', '6mo', '1y', '2y', '5y', '10y', 'ytd', 'max'],
  };
  // Yahoo's answer for a range without trading days: no timestamp, one empty quote object.
  const indicators = inRange.length === 0
    ? { quote: [{}], adjclose: [{}] }
    : {
        quote: [{
          close: inRange.map(({ row }) => row.close),
          low: inRange.map(({ row }) => row.low),
          volume: inRange.map(({ row }) => row.volume),
          open: inRange.map(({ row }) => row.open),
          high: inRange.map(({ row }) => row.high),
        }],
        adjclose: [{ adjclose: inRange.map(({ row }) => row.adjclose) }],
      };
  const result = inRange.length === 0 ? { meta, indicators } : { meta, timestamp: inRange.map(({ ts }) => ts), indicators };
  return { chart: { result: [result], error: null } };
}

/** Applies a null-bar / bad-value fault to a chart body in place (no-op on error bodies). */
function corruptBar(body: unknown, f: Extract<Fault, { kind: 'null-bar' | 'bad-value' }>): void {
  const result = (body as { chart?: { result?: Array<Record<string, any>> | null } }).chart?.result?.[0];
  const timestamps: number[] | undefined = result?.timestamp;
  const quote = result?.indicators?.quote?.[0];
  if (!result || !timestamps?.length || !quote) return;
  const crypto = result.meta?.instrumentType === 'CRYPTOCURRENCY';
  const index = f.date ? timestamps.indexOf(barTimestamp(f.date, crypto)) : 0;
  if (index < 0) throw new Error(`fault ${f.kind}: no bar on ${f.date}`);
  if (f.kind === 'null-bar') {
    for (const field of ['open', 'high', 'low', 'close', 'volume']) quote[field][index] = null;
    const adj = result.indicators.adjclose?.[0]?.adjclose;
    if (adj) adj[index] = null;
  } else {
    quote[f.field ?? 'close'][index] = f.value ?? 'abc';
  }
}

// -------------------------------------------------------------------------------------------
// Recorded fixtures.

interface Fixture {
  symbol: string;
  period1: number;
  period2: number;
  status: number;
  body: unknown;
}

interface FixtureFile {
  request: { url: string };
  response: { status: number; bodyJson: unknown };
}

function loadFixture(nameOrPath: string): Fixture {
  const file = path.isAbsolute(nameOrPath) ? nameOrPath : path.join(FIXTURES_DIR, nameOrPath);
  const json = JSON.parse(readFileSync(file, 'utf8')) as FixtureFile;
  const url = new URL(json.request.url);
  const symbol = decodeURIComponent(url.pathname.split('/').at(-1) ?? '');
  return {
    symbol,
    period1: Number(url.searchParams.get('period1')),
    period2: Number(url.searchParams.get('period2')),
    status: json.response.status,
    body: json.response.bodyJson,
  };
}

/** The recorded body of a fixture file, for comparing against what the source returned. */
export function readFixtureBody(name: string): any {
  return (JSON.parse(readFileSync(path.join(FIXTURES_DIR, name), 'utf8')) as FixtureFile).response.bodyJson;
}
