import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponseSchema, HttpError } from '@stocks/common';
import { prices } from '@stocks/db';
import type { EstimatorMetrics } from '../metrics.ts';
import { NotEnoughHistoryError } from '../model/forecast.ts';
import { forecastSchema, predictBodySchema, predictQuerySchema } from '../schemas.ts';
import type { ChampionCache, LoadedChampion } from '../serving.ts';

export interface PredictRouteOptions {
  champions: ChampionCache;
  metrics: EstimatorMetrics;
}

export const predictRoutes: FastifyPluginAsync<PredictRouteOptions> = async (fastify, { champions, metrics }) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();

  const championOf = async (ticker: string): Promise<LoadedChampion> => {
    const champion = await champions.get(ticker);
    if (!champion) throw new HttpError(404, `${ticker} has no trained model yet. Train one: POST /train {"ticker":"${ticker}"}.`);
    return champion;
  };

  app.get('/predict', {
    schema: {
      tags: ['forecast'],
      summary: 'Forecast the next trading days from the stored prices with the champion',
      querystring: predictQuerySchema,
      response: { 200: forecastSchema, 400: errorResponseSchema, 404: errorResponseSchema },
    },
  }, async (request) => {
    const { ticker, horizon } = request.query;
    try {
      const champion = await championOf(ticker);
      const bars = await prices.getRecentPrices(app.pool, ticker, champion.history);
      if (bars.length === 0) throw new HttpError(404, `No stored prices for ${ticker}. Load some first: POST /load on 2_load_data.`);
      if (bars.length < champion.history) {
        throw new HttpError(404, `${ticker} has ${bars.length} stored bars; the model needs ${champion.history}.`);
      }
      const result = champions.forecastFrom(champion, bars, horizon);
      metrics.forecasts.inc({ endpoint: 'get', outcome: 'ok' });
      return result;
    } catch (err) {
      metrics.forecasts.inc({ endpoint: 'get', outcome: 'error' });
      throw err;
    }
  });

  app.post('/predict', {
    schema: {
      tags: ['forecast'],
      summary: "Forecast from a history you send (oldest first) with the ticker's champion",
      body: predictBodySchema,
      response: { 200: forecastSchema, 400: errorResponseSchema, 404: errorResponseSchema, 422: errorResponseSchema },
    },
  }, async (request) => {
    const { ticker, horizon } = request.body;
    try {
      const champion = await championOf(ticker);
      const bars = request.body.bars.map((b) => ({
        date: b.date, close: b.close, open: b.open ?? null, high: b.high ?? null, low: b.low ?? null, adj_close: null, volume: b.volume ?? null,
      }));
      try {
        const result = champions.forecastFrom(champion, bars, horizon);
        metrics.forecasts.inc({ endpoint: 'post', outcome: 'ok' });
        return result;
      } catch (err) {
        if (err instanceof NotEnoughHistoryError) {
          throw new HttpError(422, `Send at least ${err.needed} bars (the model's window plus feature warm-up); got ${err.got}.`, { needed: err.needed, got: err.got });
        }
        throw err;
      }
    } catch (err) {
      metrics.forecasts.inc({ endpoint: 'post', outcome: 'error' });
      throw err;
    }
  });
};
