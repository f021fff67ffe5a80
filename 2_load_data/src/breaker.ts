/**
 * A circuit breaker (opossum) around a market-data source, so a Yahoo outage fails fast: once
 * most recent fetches failed, further loads get a 503 at once for `resetMs` instead of each
 * spending its retries and timeouts against a dead upstream. After `resetMs` one trial fetch
 * goes through; success closes the breaker, failure opens it again.
 *
 * Only UpstreamError counts as a failure: an unknown ticker (404) or a bad range is Yahoo
 * answering correctly, not Yahoo being down.
 */
import CircuitBreaker from 'opossum';
import { type FetchResult, type MarketDataSource, UpstreamError } from './sources/types.ts';

export interface BreakerOptions {
  /** Open when more than this % of fetches in the window failed. */
  errorPercent: number;
  /** Fetches needed in the window before the rate can open the breaker. */
  minRequests: number;
  windowMs: number;
  resetMs: number;
}

/** Thrown while the breaker is open: a 503 whose Retry-After is the time left until the trial fetch. */
export class CircuitOpenError extends UpstreamError {
  override readonly name = 'CircuitOpenError';
  constructor(retryAfterSeconds: number) {
    super(`Yahoo Finance circuit open after repeated failures; retry in ${retryAfterSeconds} s`, retryAfterSeconds);
  }
}

export interface GuardedSource {
  source: MarketDataSource;
  /** 'closed' | 'open' | 'halfOpen', for metrics and /health/ready. */
  state(): 'closed' | 'open' | 'halfOpen';
  onStateChange(listener: (state: 'closed' | 'open' | 'halfOpen') => void): void;
  shutdown(): void;
}

export function withCircuitBreaker(inner: MarketDataSource, opts: BreakerOptions): GuardedSource {
  const breaker = new CircuitBreaker((ticker: string, start: string, end: string) => inner.fetchDaily(ticker, start, end), {
    timeout: false, // the source already times out each HTTP request and bounds its retries
    errorThresholdPercentage: opts.errorPercent,
    volumeThreshold: opts.minRequests,
    rollingCountTimeout: opts.windowMs,
    rollingCountBuckets: 10,
    resetTimeout: opts.resetMs,
    // true = "not a failure": only an upstream problem says Yahoo is unhealthy.
    errorFilter: (err: unknown) => !(err instanceof UpstreamError),
  });
  let openedAt = 0;
  const listeners: Array<(state: 'closed' | 'open' | 'halfOpen') => void> = [];
  const state = () => (breaker.opened ? 'open' : breaker.halfOpen ? 'halfOpen' : 'closed') as 'closed' | 'open' | 'halfOpen';
  breaker.on('open', () => {
    openedAt = Date.now();
    for (const l of listeners) l('open');
  });
  breaker.on('halfOpen', () => listeners.forEach((l) => l('halfOpen')));
  breaker.on('close', () => listeners.forEach((l) => l('closed')));

  return {
    source: {
      name: inner.name,
      async fetchDaily(ticker, start, end): Promise<FetchResult> {
        try {
          return await breaker.fire(ticker, start, end);
        } catch (err) {
          if ((err as { code?: string }).code === 'EOPENBREAKER') {
            const leftMs = Math.max(0, openedAt + opts.resetMs - Date.now());
            throw new CircuitOpenError(Math.max(1, Math.ceil(leftMs / 1000)));
          }
          throw err;
        }
      },
    },
    state,
    onStateChange: (listener) => void listeners.push(listener),
    shutdown: () => breaker.shutdown(),
  };
}
