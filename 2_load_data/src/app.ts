import { createServiceApp, type Pool } from '@stocks/common';
import type { LoadDataEnv } from './config.ts';
import { withCircuitBreaker } from './breaker.ts';
import { breakerGauge, createIngestMetrics, createYahooMetrics, instrumentYahoo } from './metrics.ts';
import { importRoutes } from './routes/import.ts';
import { loadRoutes } from './routes/load.ts';
import { createSource } from './sources/index.ts';
import type { MarketDataSource } from './sources/types.ts';

export interface BuildOptions {
  env: LoadDataEnv;
  pool: Pool;
  /** Overrides the source chosen by MARKET_DATA_SOURCE (tests). */
  source?: MarketDataSource;
  logger?: boolean;
}

/** The 2_load_data app, without listening: server.ts listens, tests inject. */
export async function buildApp(opts: BuildOptions) {
  const { env } = opts;
  const app = await createServiceApp({
    service: 'load_data',
    description: 'Loads daily OHLCV bars from Yahoo Finance (or a CSV folder, or the bundled sample) into Postgres.',
    pool: opts.pool,
    logLevel: env.LOG_LEVEL,
    logger: opts.logger,
    apiToken: env.API_TOKEN,
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
  });
  const yahooMetrics = createYahooMetrics(app.registry);
  const raw = opts.source ?? createSource(env.MARKET_DATA_SOURCE, {
    marketDataDir: env.MARKET_DATA_DIR,
    yahooBaseUrl: env.YAHOO_BASE_URL,
    timeoutMs: env.YAHOO_TIMEOUT_MS,
    maxRetries: env.YAHOO_MAX_RETRIES,
    concurrency: env.YAHOO_CONCURRENCY,
    onRetry: (info) => {
      yahooMetrics.retries.inc();
      app.log.warn({ retry: info }, 'retrying Yahoo');
    },
  });
  let source = instrumentYahoo(raw, yahooMetrics);
  if (source.name === 'yahoo') {
    // Local sources can't have an outage worth a breaker; Yahoo can.
    const guarded = withCircuitBreaker(source, {
      errorPercent: env.YAHOO_BREAKER_ERROR_PERCENT,
      minRequests: env.YAHOO_BREAKER_MIN_REQUESTS,
      windowMs: env.YAHOO_BREAKER_WINDOW_MS,
      resetMs: env.YAHOO_BREAKER_RESET_MS,
    });
    breakerGauge(app.registry, guarded);
    app.addHook('onClose', async () => guarded.shutdown());
    source = guarded.source;
  }
  const metrics = createIngestMetrics(app.registry, { max: env.METRICS_TICKER_SERIES_MAX, pinned: env.METRICS_TICKERS });
  await app.register(loadRoutes, { source, metrics });
  await app.register(importRoutes, {
    metrics, maxBytes: env.IMPORT_MAX_BYTES, idleMs: env.IMPORT_IDLE_TIMEOUT_MS, maxConcurrent: env.IMPORT_MAX_CONCURRENT,
  });
  app.log.info({ source: source.name }, 'market data source ready');
  return app;
}
