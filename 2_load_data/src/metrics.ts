import { promClient, type Registry, tickerLabeler, type TickerSeriesBudget } from '@stocks/common';
import type { GuardedSource } from './breaker.ts';
import type { FetchResult, MarketDataSource } from './sources/types.ts';
import { UnknownTickerError, UpstreamError } from './sources/types.ts';

export interface IngestMetrics {
  rowsIngested: promClient.Counter<'ticker' | 'kind'>;
  rowsRejected: promClient.Counter<'ticker' | 'reason'>;
  historyRewrites: promClient.Counter<'ticker'>;
  /** The ticker label of a count: the ticker itself within the budget, else `_other`. */
  tickerLabel: (ticker: string) => string;
}

/** Counters by ticker within `budget` (METRICS_TICKER_SERIES_MAX, METRICS_TICKERS); the rest under ticker `_other`. */
export function createIngestMetrics(registry: Registry, budget: TickerSeriesBudget = { max: Number.POSITIVE_INFINITY }): IngestMetrics {
  return {
    tickerLabel: tickerLabeler(budget),
    rowsIngested: new promClient.Counter({
      name: 'rows_ingested_total', help: 'Price rows written, by ticker and kind (inserted|updated)',
      labelNames: ['ticker', 'kind'] as const, registers: [registry],
    }),
    rowsRejected: new promClient.Counter({
      name: 'rows_rejected_total', help: 'Bars dropped before storage, by ticker and reason',
      labelNames: ['ticker', 'reason'] as const, registers: [registry],
    }),
    historyRewrites: new promClient.Counter({
      name: 'history_rewrites_total', help: 'Full price histories re-fetched and replaced after a new split',
      labelNames: ['ticker'] as const, registers: [registry],
    }),
  };
}

/** Record what one load or import wrote and dropped. */
export function countIngest(
  metrics: IngestMetrics,
  result: { ticker: string; inserted: number; updated: number; rejected: Record<string, number>; history_rewritten?: boolean },
): void {
  const ticker = metrics.tickerLabel(result.ticker);
  metrics.rowsIngested.inc({ ticker, kind: 'inserted' }, result.inserted);
  metrics.rowsIngested.inc({ ticker, kind: 'updated' }, result.updated);
  for (const [reason, n] of Object.entries(result.rejected)) metrics.rowsRejected.inc({ ticker, reason }, n);
  if (result.history_rewritten) metrics.historyRewrites.inc({ ticker });
}

/** 1 while the Yahoo circuit breaker is open (loads fail fast with 503), else 0. */
export function breakerGauge(registry: Registry, guarded: GuardedSource): void {
  const gauge = new promClient.Gauge({
    name: 'yahoo_circuit_open', help: 'Yahoo circuit breaker: 1 open (failing fast), 0.5 half-open (trial fetch allowed), 0 closed',
    registers: [registry],
  });
  const value = { closed: 0, halfOpen: 0.5, open: 1 } as const;
  gauge.set(value[guarded.state()]);
  guarded.onStateChange((state) => gauge.set(value[state]));
}

export type YahooMetrics = ReturnType<typeof createYahooMetrics>;

/** Upstream Yahoo calls: count by outcome, latency (retries included), retries. */
export function createYahooMetrics(registry: Registry) {
  const requests = new promClient.Counter({
    name: 'yahoo_requests_total', help: 'Calls to Yahoo Finance by outcome (ok|not_found|rate_limited|error)',
    labelNames: ['outcome'] as const, registers: [registry],
  });
  const duration = new promClient.Histogram({
    name: 'yahoo_request_duration_seconds', help: 'Latency of a Yahoo fetch, retries included',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers: [registry],
  });
  const retries = new promClient.Counter({ name: 'yahoo_retries_total', help: 'Retried Yahoo calls', registers: [registry] });
  return { requests, duration, retries };
}

/** Count and time every upstream call of the Yahoo source (the csv and sample sources are local). */
export function instrumentYahoo(source: MarketDataSource, { requests, duration }: YahooMetrics): MarketDataSource {
  if (source.name !== 'yahoo') return source;
  return {
      name: source.name,
      async fetchDaily(ticker, start, end): Promise<FetchResult> {
        const stop = duration.startTimer();
        try {
          const result = await source.fetchDaily(ticker, start, end);
          requests.inc({ outcome: 'ok' });
          return result;
        } catch (err) {
          const outcome = err instanceof UnknownTickerError ? 'not_found'
            : err instanceof UpstreamError && (err.rateLimited || err.retryAfterSeconds !== undefined) ? 'rate_limited' : 'error';
          requests.inc({ outcome });
          throw err;
        } finally {
          stop();
        }
      },
  };
}
