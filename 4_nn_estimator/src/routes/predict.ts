import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorBody, errorResponseSchema, HttpError, routeRateLimit } from '@stocks/common';
import { createAdmissionGate } from '../serving/admission-gate.ts';
import type { ForecastService } from '../serving/forecast-service.ts';
import type { EstimatorMetrics } from '../metrics.ts';
import { HorizonError, NotEnoughHistoryError } from '../model/forecast.ts';
import { forecastSchema, predictBodySchema, predictQuerySchema } from '../schemas.ts';

export interface PredictRouteOptions {
  forecasts: ForecastService;
  metrics: EstimatorMetrics;
  /** POST /predict per client IP and minute (0 = no limit). */
  perMinute: number;
  /** POST /predict being worked on at once; more wait (body unread), then are shed with 503. */
  maxInFlight: number;
  /** How long a request past maxInFlight waits for a slot before it is shed with 503. */
  admissionWaitMs: number;
}

/** What a forecast's own errors mean over HTTP (the same for GET and POST). */
function asHttpError(err: unknown, ticker: string): unknown {
  if (err instanceof HorizonError) return new HttpError(400, `horizon must be at most ${err.max} for ${ticker}'s champion; got ${err.horizon}.`);
  if (err instanceof NotEnoughHistoryError) {
    return new HttpError(422, `Send at least ${err.needed} bars (the model's window plus feature warm-up); got ${err.got}.`, { needed: err.needed, got: err.got });
  }
  return err;
}

export const predictRoutes: FastifyPluginAsync<PredictRouteOptions> = async (fastify, { forecasts, metrics, perMinute, maxInFlight, admissionWaitMs }) => {
  const gate = createAdmissionGate(maxInFlight, admissionWaitMs);
  const app = fastify.withTypeProvider<ZodTypeProvider>();

  app.get('/predict', {
    schema: {
      tags: ['forecast'],
      summary: 'Forecast the next trading days from the stored prices with the champion (from memory while prices and champion are unchanged)',
      querystring: predictQuerySchema,
      response: { 200: forecastSchema, 400: errorResponseSchema, 404: errorResponseSchema, 409: errorResponseSchema },
    },
  }, async (request, reply) => {
    const { ticker, horizon, interval_model } = request.query;
    try {
      const result = await forecasts.stored(ticker, horizon, interval_model);
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
    config: { rateLimit: routeRateLimit(perMinute, 'forecasts') },
    // Admit before parsing: every body parsed and validated is event-loop time, and past a few
    // dozen queued ones /health/live (and every other request) would wait behind them. One past
    // PREDICT_MAX_IN_FLIGHT waits (body unread) up to PREDICT_ADMISSION_WAIT_MS for a slot, then is
    // shed on its kept-alive connection: see serving/admission-gate.ts for why it is held.
    onRequest: async (_request, reply) => {
      let closed = false;
      let holding = false;
      reply.raw.once('close', () => { closed = true; if (holding) gate.release(); });
      if (!(await gate.enter())) {
        return reply.code(503).header('retry-after', '1')
          .send(errorBody(503, `${gate.inFlight} forecasts are being computed and ${gate.waiting} are waiting (PREDICT_MAX_IN_FLIGHT); retry in a second.`));
      }
      if (closed) { gate.release(); return reply; } // the client left while it waited
      holding = true;
    },
    schema: {
      tags: ['forecast'],
      summary: "Forecast from a history you send (oldest first) with the ticker's champion; concurrent requests are run as one batch",
      body: predictBodySchema,
      response: { 200: forecastSchema, 400: errorResponseSchema, 404: errorResponseSchema, 409: errorResponseSchema, 422: errorResponseSchema, 429: errorResponseSchema, 503: errorResponseSchema },
    },
  }, async (request) => {
    const { ticker, horizon, bars, interval_model } = request.body;
    try {
      const dailyBars = bars.map((b) => ({ date: b.date, open: b.open ?? null, high: b.high ?? null, low: b.low ?? null, close: b.close, adj_close: null, volume: b.volume ?? null }));
      const result = await forecasts.fromHistory(ticker, {
        closes: bars.map((b) => b.close), lastDate: bars.at(-1)!.date, horizon, bars: dailyBars, ...(interval_model ? { intervalModel: interval_model } : {}),
      });
      metrics.forecasts.inc({ endpoint: 'post', outcome: 'ok' });
      return result;
    } catch (err) {
      metrics.forecasts.inc({ endpoint: 'post', outcome: 'error' });
      throw asHttpError(err, ticker);
    }
  });
};
