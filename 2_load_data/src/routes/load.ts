import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponseSchema, HttpError } from '@stocks/common';
import { CircuitOpenError } from '../breaker.ts';
import { ingestRange } from '../ingest.ts';
import { countIngest, type IngestMetrics } from '../metrics.ts';
import { loadRequestSchema, loadResponseSchema } from '../schemas.ts';
import { type MarketDataSource, UnknownTickerError, UpstreamError } from '../sources/types.ts';

export interface LoadRouteOptions {
  source: MarketDataSource;
  metrics: IngestMetrics;
}

/** Our Retry-After when Yahoo rate-limits us without saying for how long. */
export const DEFAULT_RATE_LIMIT_RETRY_AFTER_S = 60;

/**
 * Turn source failures into the statuses the contract names: 404 unknown ticker; 503 with
 * Retry-After when Yahoo asked us to back off (429, Retry-After) or the breaker is open;
 * 502 for every other upstream failure.
 */
export function toHttpError(err: unknown): unknown {
  if (err instanceof UnknownTickerError) return new HttpError(404, err.message);
  if (err instanceof UpstreamError) {
    const retryAfter = err.retryAfterSeconds ?? (err.rateLimited ? DEFAULT_RATE_LIMIT_RETRY_AFTER_S : undefined);
    if (retryAfter !== undefined) {
      const message = err instanceof CircuitOpenError ? err.message : `${err.message}. Retry after ${retryAfter} s.`;
      return new HttpError(503, message, undefined, { 'retry-after': String(retryAfter) });
    }
    return new HttpError(502, err.message);
  }
  return err;
}

export const loadRoutes: FastifyPluginAsync<LoadRouteOptions> = async (app, { source, metrics }) => {
  app.withTypeProvider<ZodTypeProvider>().post('/load', {
    onRequest: app.requireToken,
    schema: {
      tags: ['prices'],
      summary: 'Fetch daily bars for a date range from the configured source and upsert them',
      description: 'Both dates inclusive. Idempotent: a repeated call reports 0 inserted and 0 updated. '
        + 'A new split inside the stored history re-fetches and replaces the whole history (history_rewritten).',
      body: loadRequestSchema,
      response: { 200: loadResponseSchema, 400: errorResponseSchema, 404: errorResponseSchema, 502: errorResponseSchema, 503: errorResponseSchema },
    },
  }, async (request) => {
    try {
      const result = await ingestRange(app.pool, source, request.body);
      countIngest(metrics, result);
      request.log.info({ load: result }, 'load finished');
      return result;
    } catch (err) {
      throw toHttpError(err);
    }
  });
};
