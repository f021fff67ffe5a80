/**
 * Daily bars from Yahoo Finance through the real yahoo-finance2 v3 client and its `chart()` module.
 *
 * - `baseUrl` (default env YAHOO_BASE_URL) sends every *.yahoo.com request the library makes to
 *   another server (the test replay server, a proxy), so URL building and parsing stay the library's.
 * - Each HTTP request gets its own AbortSignal.timeout; 429 / 5xx / timeouts / connection errors /
 *   unparsable bodies are retried with exponential backoff and full jitter (Retry-After honoured
 *   when larger, capped), then surface as UpstreamError. Yahoo's 404 "Not Found" is UnknownTickerError.
 * - The library's result validation is off: one malformed bar would otherwise fail the whole
 *   request. Each bar is checked with zod instead and bad ones are counted as `schema`.
 */
import { STATUS_CODES } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import YahooFinance from 'yahoo-finance2';
import { z } from 'zod';
import { ISO_DATE, TICKER_PATTERN, type DailyBar } from '@stocks/common';
import { cleanBars, mergeRejected } from '../quality.ts';
import { UnknownTickerError, UpstreamError, type FetchResult, type MarketDataSource } from './types.ts';

export interface RetryInfo {
  ticker: string;
  /** The attempt that just failed (1-based). */
  attempt: number;
  maxAttempts: number;
  delayMs: number;
  /** What went wrong, e.g. "answered 429 Too Many Requests". */
  problem: string;
  retryAfterSeconds?: number;
}

export interface YahooSourceOptions {
  /** Send Yahoo's hosts here instead, e.g. http://127.0.0.1:9999. Default: env YAHOO_BASE_URL. */
  baseUrl?: string;
  /** Per HTTP request, including reading the body. Default 10 000. */
  timeoutMs?: number;
  /** Retries after the first attempt. Default 3. */
  maxRetries?: number;
  /** Backoff base: attempt n waits random(0, base * 2^(n-1)). Default 200. */
  baseDelayMs?: number;
  /** Cap on any single wait, including one asked for by Retry-After. Default 30 000. */
  maxDelayMs?: number;
  /**
   * Max simultaneous Yahoo requests. NB: yahoo-finance2 keeps ONE queue per process, so this is
   * a process-wide limit and the last source created sets it. Default 4.
   */
  concurrency?: number;
  /** The underlying fetch (default globalThis.fetch). */
  fetch?: typeof fetch;
  onRetry?: (info: RetryInfo) => void;
}

const YAHOO_HOST = /(^|\.)yahoo\.com$/i;
const DAY_MS = 86_400_000;

export function createYahooSource(opts: YahooSourceOptions = {}): MarketDataSource {
  const settings = {
    baseUrl: parseBaseUrl(opts.baseUrl ?? process.env.YAHOO_BASE_URL),
    timeoutMs: opts.timeoutMs ?? 10_000,
    maxRetries: opts.maxRetries ?? 3,
    baseDelayMs: opts.baseDelayMs ?? 200,
    maxDelayMs: opts.maxDelayMs ?? 30_000,
    fetch: opts.fetch ?? ((input: Parameters<typeof fetch>[0], init?: RequestInit) => globalThis.fetch(input, init)),
  };
  const client = new YahooFinance({
    // Covers any request made without our per-call fetch (none today); the per-call one also probes.
    fetch: instrumentedFetch(settings, {}),
    queue: { concurrency: opts.concurrency ?? 4 },
    suppressNotices: ['yahooSurvey'],
    versionCheck: false, // would call npm's registry on errors
    logger: quietLogger,
  });

  async function attempt(ticker: string, start: string, end: string): Promise<ChartResult> {
    const probe: Probe = {};
    let raw: unknown;
    try {
      raw = await client.chart(
        ticker,
        { period1: utcMidnight(start), period2: utcMidnight(addDays(end, 1)), interval: '1d', events: 'div|split' },
        { validateResult: false, fetch: instrumentedFetch(settings, probe) },
      );
    } catch (err) {
      throw classify(err, probe, settings.timeoutMs);
    }
    const parsed = ChartResultSchema.safeParse(raw);
    if (!parsed.success) {
      throw failure('retryable', 'sent a response without chart data', z.prettifyError(parsed.error), parsed.error);
    }
    return parsed.data;
  }

  return {
    name: 'yahoo',
    async fetchDaily(ticker, start, end) {
      assertRange(start, end);
      if (!TICKER_PATTERN.test(ticker.toUpperCase())) throw new UnknownTickerError(ticker, 'not a valid ticker symbol');
      const chart = await withRetries(ticker, () => attempt(ticker, start, end), settings, opts.onRetry);
      return toFetchResult(chart, start, end);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP: host rewrite, per-request timeout, and a probe that remembers what the server answered.

interface Settings {
  baseUrl: URL | undefined;
  timeoutMs: number;
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  fetch: typeof fetch;
}

/** What the last HTTP exchange of one attempt looked like (the library's errors lose most of it). */
interface Probe {
  status?: number;
  statusText?: string;
  retryAfterSeconds?: number;
  timeout?: AbortSignal;
  networkError?: unknown;
}

/** Thrown from our fetch for 429/5xx: the library's HTTPError would drop Retry-After (and console.error the URL). */
class HttpStatusError extends Error {
  constructor(readonly status: number, readonly statusText: string, readonly body: string) {
    super(`HTTP ${status} ${statusText}`);
  }
}

function instrumentedFetch(settings: Settings, probe: Probe): typeof fetch {
  return async (input, init) => {
    const timeout = AbortSignal.timeout(settings.timeoutMs);
    probe.timeout = timeout;
    const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await settings.fetch(rewrite(input, settings.baseUrl), { ...init, signal });
    } catch (err) {
      probe.networkError = err;
      throw err;
    }
    probe.status = res.status;
    probe.statusText = res.statusText || STATUS_CODES[res.status] || '';
    probe.retryAfterSeconds = parseRetryAfter(res.headers.get('retry-after'));
    if (res.status === 429 || res.status >= 500) {
      const body = await res.text().catch(() => '');
      throw new HttpStatusError(res.status, probe.statusText, body);
    }
    return res;
  };
}

function parseBaseUrl(value: string | undefined): URL | undefined {
  if (!value) return undefined;
  const url = new URL(value);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

function rewrite(input: Parameters<typeof fetch>[0], baseUrl: URL | undefined): Parameters<typeof fetch>[0] {
  if (!baseUrl) return input;
  if (input instanceof Request) return new Request(rewriteYahooUrl(input.url, baseUrl), input);
  return rewriteYahooUrl(String(input), baseUrl);
}

/** https://query2.finance.yahoo.com/v8/x?q -> <baseUrl>/v8/x?q for any *.yahoo.com host; others untouched. */
export function rewriteYahooUrl(url: string, baseUrl: string | URL): string {
  const original = new URL(url);
  if (!YAHOO_HOST.test(original.hostname)) return url;
  const base = typeof baseUrl === 'string' ? parseBaseUrl(baseUrl) : baseUrl;
  return new URL(original.pathname.replace(/^\//, '') + original.search, base).toString();
}

/** Retry-After is either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

// ---------------------------------------------------------------------------------------------
// Classifying failures and retrying.

/** Why one attempt failed, and whether another attempt could help. */
class AttemptFailure extends Error {
  constructor(
    readonly kind: 'unknown' | 'retryable' | 'fatal',
    /** For `unknown`, Yahoo's reason; otherwise what Yahoo did, e.g. "answered 503 Service Unavailable". */
    readonly problem: string,
    readonly detail?: string,
    options: { cause?: unknown; retryAfterSeconds?: number } = {},
  ) {
    super(problem, { cause: options.cause });
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.rateLimited = options.cause instanceof HttpStatusError && options.cause.status === 429;
  }
  readonly retryAfterSeconds: number | undefined;
  /** Yahoo answered 429: the caller should back off even without a Retry-After. */
  readonly rateLimited: boolean;
}

function failure(kind: 'retryable' | 'fatal', problem: string, detail: string | undefined, cause: unknown, retryAfterSeconds?: number): AttemptFailure {
  return new AttemptFailure(kind, problem, detail, { cause, retryAfterSeconds });
}

function classify(err: unknown, probe: Probe, timeoutMs: number): AttemptFailure {
  if (probe.timeout?.aborted) return failure('retryable', `did not answer within ${timeoutMs} ms`, undefined, err);
  if (probe.networkError !== undefined) {
    return failure('retryable', `connection failed (${networkCode(probe.networkError)})`, undefined, err);
  }
  if (err instanceof HttpStatusError) {
    return failure('retryable', `answered ${err.status} ${err.statusText}`.trim(), snippet(err.body), err, probe.retryAfterSeconds);
  }
  const message = err instanceof Error ? err.message : String(err);
  const status = probe.status;
  if (status === undefined) return failure('fatal', 'request could not be made', message, err);
  // The library turns a JSON `{chart:{error:{code,description}}}` body into an Error(description);
  // only a non-JSON body gives its HTTPError. A JSON 404 is Yahoo's "No data found, symbol may be delisted".
  if (status === 404 && !(err instanceof Error && err.name === 'HTTPError')) {
    return new AttemptFailure('unknown', message || 'Not Found');
  }
  if (status >= 400) return failure('fatal', `answered ${status} ${probe.statusText ?? ''}`.trim(), snippet(message), err);
  return failure('retryable', 'sent an unparsable response', snippet(message), err);
}

function networkCode(err: unknown): string {
  const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}

function snippet(text: string): string | undefined {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (!flat) return undefined;
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

async function withRetries<T>(ticker: string, run: () => Promise<T>, settings: Settings, onRetry?: (info: RetryInfo) => void): Promise<T> {
  const maxAttempts = settings.maxRetries + 1;
  let retryAfterSeconds: number | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (!(err instanceof AttemptFailure)) throw err; // a bug on our side, not Yahoo's
      if (err.kind === 'unknown') throw new UnknownTickerError(ticker, err.problem);
      retryAfterSeconds = err.retryAfterSeconds ?? retryAfterSeconds;
      const detail = err.detail ? `: ${err.detail}` : '';
      if (err.kind === 'fatal') {
        throw new UpstreamError(`Yahoo Finance ${err.problem}${detail}`, retryAfterSeconds, { cause: err.cause, rateLimited: err.rateLimited });
      }
      if (attempt >= maxAttempts) {
        const times = `after ${attempt} attempt${attempt === 1 ? '' : 's'}`;
        throw new UpstreamError(`Yahoo Finance ${err.problem} ${times}${detail}`, retryAfterSeconds, { cause: err.cause, rateLimited: err.rateLimited });
      }
      const delayMs = backoffMs(attempt, settings, err.retryAfterSeconds);
      onRetry?.({ ticker, attempt, maxAttempts, delayMs, problem: err.problem, retryAfterSeconds: err.retryAfterSeconds });
      await sleep(delayMs);
    }
  }
}

/** Full jitter (random(0, min(cap, base*2^(n-1)))), but never shorter than a (capped) Retry-After. */
export function backoffMs(
  attempt: number,
  settings: Pick<Settings, 'baseDelayMs' | 'maxDelayMs'>,
  retryAfterSeconds?: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** (attempt - 1));
  const hinted = retryAfterSeconds === undefined ? 0 : Math.min(settings.maxDelayMs, retryAfterSeconds * 1000);
  return Math.max(Math.round(random() * ceiling), hinted);
}

// ---------------------------------------------------------------------------------------------
// The response: zod shapes and conversion to exchange-local bars.

const ChartResultSchema = z.object({
  meta: z.object({
    exchangeTimezoneName: z.string().optional(),
    gmtoffset: z.number().optional(),
  }),
  quotes: z.array(z.unknown()),
  events: z
    .object({ dividends: z.array(z.unknown()).optional(), splits: z.array(z.unknown()).optional() })
    .optional(),
});
type ChartResult = z.infer<typeof ChartResultSchema>;

const price = z.number().nullish(); // zod 4's number() already refuses NaN and ±Infinity
const QuoteSchema = z.object({
  date: z.date(), // the library builds it from the timestamp; an invalid Date fails here
  open: price,
  high: price,
  low: price,
  close: price,
  adjclose: price,
  volume: price,
});
/** The library coerces event dates to Date; accept raw unix seconds too in case it didn't. */
const eventDate = z.union([z.date(), z.number().transform((s) => new Date(s * 1000))]);
const DividendSchema = z.object({ amount: z.number(), date: eventDate });
const SplitSchema = z.object({ numerator: z.number(), denominator: z.number(), date: eventDate });

function toFetchResult(chart: ChartResult, start: string, end: string): FetchResult {
  const localDate = exchangeDate(chart.meta);
  const rejected: Record<string, number> = {};
  const count = (reason: string) => (rejected[reason] = (rejected[reason] ?? 0) + 1);
  const inRange = (date: string) => date >= start && date <= end;

  const bars: DailyBar[] = [];
  for (const raw of chart.quotes) {
    const quote = QuoteSchema.safeParse(raw);
    if (!quote.success) {
      count('schema');
      continue;
    }
    const q = quote.data;
    if (q.close === null || q.close === undefined) {
      count('null_bar');
      continue;
    }
    const date = localDate(q.date);
    if (!inRange(date)) continue; // only possible for exchanges whose open is before 00:00 UTC
    bars.push({ date, open: q.open ?? null, high: q.high ?? null, low: q.low ?? null, close: q.close, adj_close: q.adjclose ?? null, volume: q.volume ?? null });
  }
  const cleaned = cleanBars(bars);

  const events = chart.events ?? {};
  const dividends = parseEvents(events.dividends, DividendSchema, count).map((d) => ({ date: localDate(d.date), amount: d.amount }));
  const splits = parseEvents(events.splits, SplitSchema, count).map((s) => ({ date: localDate(s.date), numerator: s.numerator, denominator: s.denominator }));
  return {
    bars: cleaned.bars,
    rejected: mergeRejected(rejected, cleaned.rejected),
    dividends: dividends.filter((d) => inRange(d.date)),
    splits: splits.filter((s) => inRange(s.date)),
  };
}

function parseEvents<T>(items: unknown[] | undefined, schema: z.ZodType<T>, count: (reason: string) => void): T[] {
  const out: T[] = [];
  for (const item of items ?? []) {
    const parsed = schema.safeParse(item);
    if (parsed.success) out.push(parsed.data);
    else count('bad_event');
  }
  return out;
}

/**
 * Timestamp -> exchange-local calendar date. Prefers the IANA zone (right across DST and history);
 * `gmtoffset` is only the offset at request time, but daily bars sit mid-day so it's a fine fallback.
 */
export function exchangeDate(meta: { exchangeTimezoneName?: string; gmtoffset?: number }): (d: Date) => string {
  const zone = meta.exchangeTimezoneName;
  if (zone) {
    try {
      const fmt = new Intl.DateTimeFormat('en-US', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' });
      return (d) => {
        const parts = Object.fromEntries(fmt.formatToParts(d).map((p) => [p.type, p.value]));
        return `${parts.year}-${parts.month}-${parts.day}`;
      };
    } catch {
      // unknown zone name: fall through to the offset
    }
  }
  const offsetMs = (meta.gmtoffset ?? 0) * 1000;
  return (d) => new Date(d.getTime() + offsetMs).toISOString().slice(0, 10);
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

function assertRange(start: string, end: string): void {
  if (!ISO_DATE.test(start) || !ISO_DATE.test(end) || Number.isNaN(Date.parse(start)) || Number.isNaN(Date.parse(end))) {
    throw new RangeError(`dates must be YYYY-MM-DD, got ${start}..${end}`);
  }
  if (start > end) throw new RangeError(`start ${start} is after end ${end}`);
}

function utcMidnight(date: string): Date {
  return new Date(`${date}T00:00:00Z`);
}

function addDays(date: string, days: number): string {
  return new Date(utcMidnight(date).getTime() + days * DAY_MS).toISOString().slice(0, 10);
}

/** The library logs through this. Node 20 triggers its "requires Node >= 22" warning: say it once. */
let runtimeWarned = false;
const quietLogger = {
  info: () => {},
  debug: () => {},
  dir: () => {},
  warn: (...args: unknown[]) => {
    if (String(args[0]).includes('Unsupported environment')) {
      if (runtimeWarned) return;
      runtimeWarned = true;
    }
    console.warn(...args);
  },
  error: (...args: unknown[]) => console.error(...args),
};
