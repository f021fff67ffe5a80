import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponseSchema, HttpError } from '@stocks/common';
import type { ForecastService } from '../serving/forecast-service.ts';
import type { EstimatorMetrics } from '../metrics.ts';
import { HorizonError, NotEnoughHistoryError } from '../model/forecast.ts';
import { forecastSchema, predictBodySchema, predictQuerySchema } from '../schemas.ts';

export interface PredictRouteOptions {
  forecasts: ForecastService;
  metrics: EstimatorMetrics;
}

/** What a forecast's own errors mean over HTTP (the same for GET and POST). */
function asHttpError(err: unknown, ticker: string): unknown {
  if (err instanceof HorizonError) return new HttpError(400, `horizon must be at most ${err.max} for ${ticker}'s champion; got ${err.horizon}.`);
  if (err instanceof NotEnoughHistoryError) {
    return new HttpError(422, `Send at least ${err.needed} bars (the model's window plus feature warm-up); got ${err.got}.`, { needed: err.needed, got: err.got });
  }
  return err;
}

export const predictRoutes: FastifyPluginAsync<PredictRouteOptions> = async (fastify, { forecasts, metrics }) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();

  app.get('/predict', {
    schema: {
      tags: ['forecast'],
      summary: 'Forecast the next trading days from the stored prices with the champion (from memory while prices and champion are unchanged)',
      querystring: predictQuerySchema,
      response: { 200: forecastSchema, 400: errorResponseSchema, 404: errorResponseSchema },
    },
  }, async (request, reply) => {
    const { ticker, horizon } = request.query;
    try {
      const result = await forecasts.stored(ticker, horizon);
      metrics.forecasts.inc({ endpoint: 'get', outcome: 'ok' });
      if (typeof result === 'string') {
        // A cache hit is already serialised (by forecastSchema, once per horizon).
        return reply.type('application/json; charset=utf-8').send(result as never);
      }
      return result;
    } catch (err) {
      metrics.forecasts.inc({ endpoint: 'get', outcome: 'error' });
      throw asHttpError(err, ticker);
    }
  });

  app.post('/predict', {
    schema: {
      tags: ['forecast'],
      summary: "Forecast from a history you send (oldest first) with the ticker's champion; concurrent requests are run as one batch",
      body: predictBodySchema,
      response: { 200: forecastSchema, 400: errorResponseSchema, 404: errorResponseSchema, 422: errorResponseSchema },
    },
  }, async (request) => {
    const { ticker, horizon, bars } = request.body;
    try {
      const result = await forecasts.fromHistory(ticker, { closes: bars.map((b) => b.close), lastDate: bars.at(-1)!.date, horizon });
      metrics.forecasts.inc({ endpoint: 'post', outcome: 'ok' });
      return result;
    } catch (err) {
      metrics.forecasts.inc({ endpoint: 'post', outcome: 'error' });
      throw asHttpError(err, ticker);
    }
  });
};
