import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponseSchema, exchangeOf, lastCompletedTradingDay, tradingDaysBetween } from '@stocks/common';
import { models, monitoring, prices } from '@stocks/db';
import type { Monitor } from '../monitoring/monitor.ts';
import {
  forecastsQuerySchema, forecastsResponseSchema, jobsQuerySchema, jobsResponseSchema, monitoringQuerySchema, monitoringResponseSchema,
  pricesQuerySchema, pricesResponseSchema, tickersResponseSchema,
} from '../monitoring/schemas.ts';
import { noStoredPrices } from '../errors.ts';

export interface MonitoringRouteOptions {
  monitor: Monitor;
}

/** Live monitoring (GET /monitoring) and the small read-only endpoints the page uses. */
export const monitoringRoutes: FastifyPluginAsync<MonitoringRouteOptions> = async (fastify, { monitor }) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();

  app.get('/monitoring', {
    schema: {
      tags: ['monitoring'],
      summary: 'Realised error of served forecasts beside naive, interval coverage, and drift of daily returns',
      description: 'See docs/monitoring.md. The same figures are exported as live_forecast_* and returns_drift_* metrics.',
      querystring: monitoringQuerySchema,
      response: { 200: monitoringResponseSchema, 400: errorResponseSchema, 404: errorResponseSchema },
    },
  }, async (request) => {
    const report = await monitor.report(request.query.ticker);
    if (!report) throw noStoredPrices(request.query.ticker);
    return report;
  });

  app.get('/tickers', {
    schema: {
      tags: ['monitoring'],
      summary: 'Tickers with stored prices, their freshness and champion',
      response: { 200: tickersResponseSchema },
    },
  }, async () => {
    const [coverage, champions] = await Promise.all([prices.listCoverage(app.pool), models.listChampionGauges(app.pool)]);
    const championOf = new Map(champions.map((c) => [c.ticker, c.version]));
    // Counted once per (exchange, last date): per ticker it cost ~0.5 ms of event loop each, a
    // quarter of a second for a universe of 500 that mostly shares one last date.
    const now = new Date();
    const staleDays = new Map<string, number>();
    const staleOf = (ticker: string, lastDate: string) => {
      const key = `${exchangeOf(ticker)}|${lastDate}`;
      let days = staleDays.get(key);
      if (days === undefined) staleDays.set(key, (days = tradingDaysBetween(ticker, lastDate, lastCompletedTradingDay(ticker, now))));
      return days;
    };
    return {
      tickers: coverage.map((c) => ({
        ...c,
        stale_trading_days: staleOf(c.ticker, c.last_date),
        champion_version: championOf.get(c.ticker) ?? null,
      })),
    };
  });

  app.get('/prices', {
    schema: {
      tags: ['monitoring'],
      summary: "A ticker's newest stored daily bars, oldest first",
      querystring: pricesQuerySchema,
      response: { 200: pricesResponseSchema, 400: errorResponseSchema, 404: errorResponseSchema },
    },
  }, async (request) => {
    const { ticker, days } = request.query;
    const bars = await prices.getRecentPrices(app.pool, ticker, days);
    if (bars.length === 0) throw noStoredPrices(ticker);
    return { ticker, prices: bars.map((b) => ({ date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume })) };
  });

  app.get('/forecasts', {
    schema: {
      tags: ['monitoring'],
      summary: 'Forecasts served for the ticker (GET /predict), with the actual close and errors once known',
      querystring: forecastsQuerySchema,
      response: { 200: forecastsResponseSchema, 400: errorResponseSchema },
    },
  }, async (request) => {
    const { ticker, step, limit } = request.query;
    const rows = await monitoring.listServedForecasts(app.pool, ticker, { step, limit });
    return { ticker, forecasts: rows.map((r) => ({ ...r, made_at: r.made_at.toISOString() })) };
  });

  app.get('/jobs', {
    schema: {
      tags: ['training'],
      summary: "A ticker's recent training, fine-tune and backtest jobs, newest first",
      querystring: jobsQuerySchema,
      response: { 200: jobsResponseSchema, 400: errorResponseSchema },
    },
  }, async (request) => {
    const { ticker, limit } = request.query;
    const rows = await monitoring.listRecentJobs(app.pool, ticker, limit);
    return {
      ticker,
      jobs: rows.map((j) => ({
        job_id: j.id, kind: j.kind, status: j.status, model_version: j.model_version, error: j.error, attempts: j.attempts,
        created_at: j.created_at.toISOString(), started_at: j.started_at?.toISOString() ?? null, finished_at: j.finished_at?.toISOString() ?? null,
      })),
    };
  });
};
