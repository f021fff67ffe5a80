import type { FastifyInstance } from 'fastify';
import client, { Registry } from 'prom-client';
import type { Pool } from './db.ts';

export { client as promClient, Registry };

/** A registry per service instance (tests build several apps in one process). */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  // process_*, nodejs_eventloop_lag_*, heap and GC metrics.
  client.collectDefaultMetrics({ register: registry });
  return registry;
}

/** The pg pool's connections, read at scrape time: the budget of max_connections a replica uses. */
export function installPoolMetrics(registry: Registry, pool: Pick<Pool, 'totalCount' | 'idleCount' | 'waitingCount'>): void {
  const gauge = (name: string, help: string, read: () => number) =>
    new client.Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  gauge('db_pool_total_connections', 'Connections the Postgres pool holds (idle + in use)', () => pool.totalCount);
  gauge('db_pool_idle_connections', 'Idle connections in the Postgres pool', () => pool.idleCount);
  gauge('db_pool_waiting_clients', 'Queries waiting for a free connection of the Postgres pool', () => pool.waitingCount);
}

/** Request rate, errors and latency per route, and the /metrics endpoint. */
export function installHttpMetrics(app: FastifyInstance, registry: Registry): void {
  const requests = new client.Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by route and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [registry],
  });
  const duration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    // Unmatched URLs share one label so scanners can't blow up the series count.
    const route = request.routeOptions.url ?? 'unmatched';
    if (route === '/metrics') return;
    const labels = { method: request.method, route, status_code: String(reply.statusCode) };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
}

/** The `ticker` label of counts beyond the per-ticker budget (never a valid symbol). */
export const OTHER_TICKERS_LABEL = '_other';

export interface TickerSeriesBudget {
  /** Tickers with series of their own besides the pinned ones (METRICS_TICKER_SERIES_MAX). */
  max: number;
  /** Tickers that always have their own (METRICS_TICKERS). */
  pinned?: readonly string[];
}

/**
 * The `ticker` label for counters with a bounded number of series: pinned tickers and the first
 * `max` others counted keep their own; later ones are counted under `_other`. A counter's series
 * must not come and go (rate() and increase() would see resets), so the choice is first come, kept
 * for the life of the process.
 */
export function tickerLabeler(budget: TickerSeriesBudget): (ticker: string) => string {
  const pinned = new Set(budget.pinned ?? []);
  const own = new Set<string>();
  return (ticker) => {
    if (pinned.has(ticker) || own.has(ticker)) return ticker;
    if (own.size < budget.max) {
      own.add(ticker);
      return ticker;
    }
    return OTHER_TICKERS_LABEL;
  };
}

/**
 * A value read for /metrics that a scrape must not wait for: the first call waits for `read`;
 * later calls answer at once with the last value and, when it is older than `maxAgeMs`, start one
 * read in the background for the next scrape. A failed read keeps the last value (or rejects the
 * first call) and is retried at the next call.
 */
export function refreshedInBackground<T>(read: () => Promise<T>, maxAgeMs: number): () => Promise<T> {
  let value: { at: number; data: T } | undefined;
  let inFlight: Promise<T> | undefined;
  const refresh = () => {
    inFlight ??= read().then(
      (data) => {
        value = { at: Date.now(), data };
        inFlight = undefined;
        return data;
      },
      (err: unknown) => {
        inFlight = undefined;
        throw err;
      },
    );
    return inFlight;
  };
  return async () => {
    if (!value) return refresh();
    if (Date.now() - value.at > maxAgeMs) refresh().catch(() => {});
    return value.data;
  };
}
