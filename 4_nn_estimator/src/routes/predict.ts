import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponseSchema, HttpError } from '@stocks/common';
import type { ForecastService } from '../serving/forecast-service.ts';
import type { EstimatorMetrics } from '../metrics.ts';
import { NotEnoughHistoryError } from '../model/forecast.ts';
import { forecastSchema, predictBodySchema, predictQuerySchema } from '../schemas.ts';

export interface PredictRouteOptions {
  forecasts: ForecastService;
  metrics: EstimatorMetrics;
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
      throw err;
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
      try {
        const result = await forecasts.fromHistory(ticker, { closes: bars.map((b) => b.close), lastDate: bars.at(-1)!.date, horizon });
        metrics.forecasts.inc({ endpoint: 'post', outcome: 'ok' });
        return result;
      } catch (err) {
        if (err instanceof NotEnoughHistoryError) {
          throw new HttpError(422, `Send at least ${err.needed} bars (the model's window plus feature warm-up); got ${err.got}.`, { needed: err.needed, got: err.got });
        }
        if (err instanceof RangeError) throw new HttpError(400, err.message);
        throw err;
      }
    } catch (err) {
      metrics.forecasts.inc({ endpoint: 'post', outcome: 'error' });
      throw err;
    }
  });
};
