import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponseSchema, HttpError } from '@stocks/common';
import { ingestRange } from '../ingest.ts';
import type { IngestMetrics } from '../metrics.ts';
import { loadRequestSchema, loadResponseSchema } from '../schemas.ts';
import { type MarketDataSource, UnknownTickerError, UpstreamError } from '../sources/types.ts';

export interface LoadRouteOptions {
  source: MarketDataSource;
  metrics: IngestMetrics;
}

/** Turn source failures into the statuses the contract names: 404 unknown ticker, 502/503 upstream. */
export function toHttpError(err: unknown): unknown {
  if (err instanceof UnknownTickerError) return new HttpError(404, err.message);
  if (err instanceof UpstreamError) {
    if (err.retryAfterSeconds !== undefined) {
      return new HttpError(503, `${err.message}. Retry after ${err.retryAfterSeconds} s.`, undefined, {
        'retry-after': String(err.retryAfterSeconds),
      });
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
      description: 'Both dates inclusive. Idempotent: a repeated call reports 0 inserted and 0 updated.',
      body: loadRequestSchema,
      response: { 200: loadResponseSchema, 400: errorResponseSchema, 404: errorResponseSchema, 502: errorResponseSchema, 503: errorResponseSchema },
    },
  }, async (request) => {
    try {
      const result = await ingestRange(app.pool, source, request.body);
      metrics.rowsIngested.inc({ ticker: result.ticker, kind: 'inserted' }, result.inserted);
      metrics.rowsIngested.inc({ ticker: result.ticker, kind: 'updated' }, result.updated);
      for (const [reason, n] of Object.entries(result.rejected)) metrics.rowsRejected.inc({ ticker: result.ticker, reason }, n);
      request.log.info({ load: result }, 'load finished');
      return result;
    } catch (err) {
      throw toHttpError(err);
    }
  });
};
