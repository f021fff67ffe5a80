import { createServiceApp, type Pool } from '@stocks/common';
import type { ShepherdEnv } from './config.ts';
import { createShepherdMetrics } from './metrics.ts';
import { runRoutes } from './routes/runs.ts';
import type { RunDeps } from './run.ts';

export interface BuildOptions {
  env: ShepherdEnv;
  pool: Pool;
  logger?: boolean;
}

/** The 1_shepherd HTTP app (runs, health, metrics). server.ts adds the schedule and listens. */
export async function buildApp(opts: BuildOptions) {
  const { env, pool } = opts;
  const app = await createServiceApp({
    service: 'shepherd',
    description: 'Keeps every watched ticker fresh: loads missing days, then trains or fine-tunes its model.',
    pool,
    logLevel: env.LOG_LEVEL,
    logger: opts.logger,
    apiToken: env.API_TOKEN,
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
  });
  const metrics = createShepherdMetrics(app.registry, pool, env.WATCHLIST);
  const deps: RunDeps = {
    pool,
    log: app.log,
    metrics,
    loadDataUrl: env.LOAD_DATA_URL,
    estimatorUrl: env.ESTIMATOR_URL,
    apiToken: env.API_TOKEN,
    initialHistoryYears: env.INITIAL_HISTORY_YEARS,
    jobWaitTimeoutMs: env.JOB_WAIT_TIMEOUT_SECONDS * 1000,
    jobPollIntervalMs: env.JOB_POLL_INTERVAL_MS,
    concurrency: env.SHEPHERD_CONCURRENCY,
    maxRetrainsPerRun: env.SHEPHERD_MAX_RETRAINS_PER_RUN,
  };
  await app.register(runRoutes, { deps, watchlist: env.WATCHLIST });
  return Object.assign(app, { runDeps: deps });
}
