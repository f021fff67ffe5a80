import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type PgBoss from 'pg-boss';
import { errorResponseSchema, HttpError } from '@stocks/common';
import { backtests, jobs, prices, type BacktestRow } from '@stocks/db';
import { resolveModelConfig, type ModelConfig } from '../model/config.ts';
import { minimumBarsForTraining } from '../model/dataset.ts';
import { type QueueOptions, submitJob } from '../training/queue.ts';
import {
  type BacktestDetail, backtestDetailSchema, backtestParamsSchema, backtestRequestSchema, backtestsQuerySchema, backtestsResponseSchema, type BacktestSummary, jobAcceptedSchema,
} from '../schemas.ts';
import { noStoredPrices } from '../errors.ts';

export interface BacktestRouteOptions {
  boss: PgBoss;
  queue: QueueOptions;
  modelOverrides: Partial<ModelConfig>;
}

/** jsonb columns are typed loosely by the repository; their shape is model/backtest.ts's BacktestResult. */
function present(row: Omit<BacktestRow, 'per_origin'>): BacktestSummary {
  return { ...row, created_at: row.created_at.toISOString() } as unknown as BacktestSummary;
}

export const backtestRoutes: FastifyPluginAsync<BacktestRouteOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const minTrain = minimumBarsForTraining(resolveModelConfig(opts.modelOverrides));

  app.post('/backtest', {
    onRequest: app.requireToken,
    schema: {
      tags: ['backtests'],
      summary: 'Queue a walk-forward backtest of the model beside naive, drift and moving average',
      description: 'At each origin the model is trained (or reused, retraining every retrain_every origins) on bars up to the origin only, forecasts horizon steps and is scored against the actual closes. Result: GET /jobs/:id -> backtest_id -> GET /backtests/:id.',
      body: backtestRequestSchema,
      response: { 202: jobAcceptedSchema, 400: errorResponseSchema, 401: errorResponseSchema, 404: errorResponseSchema, 422: errorResponseSchema },
    },
  }, async (request, reply) => {
    const { ticker, origins, horizon, retrain_every } = request.body;
    const coverage = await prices.getCoverage(app.pool, ticker);
    if (!coverage) throw noStoredPrices(ticker);
    const needed = minTrain + origins - 1 + horizon;
    if (coverage.rows < needed) {
      throw new HttpError(422, `${ticker} has ${coverage.rows} stored bars; ${origins} origins with horizon ${horizon} need at least ${needed}. Ask for fewer origins or load a longer history.`, { needed, got: coverage.rows });
    }
    const active = await jobs.findActiveJob(app.pool, ticker, 'backtest');
    if (active) return reply.code(202).send({ job_id: active.id, status: active.status as 'queued' | 'running' });
    const params = { origins, horizon, ...(retrain_every ? { retrain_every } : {}) };
    const id = await submitJob(app.pool, opts.boss, { kind: 'backtest', ticker, params }, opts.queue);
    return reply.code(202).send({ job_id: id, status: 'queued' });
  });

  app.get('/backtests', {
    schema: {
      tags: ['backtests'],
      summary: "A ticker's backtests, newest first: aggregates per forecaster (MAE, RMSE, MAPE, MASE, directional accuracy) and interval coverage",
      querystring: backtestsQuerySchema,
      response: { 200: backtestsResponseSchema, 400: errorResponseSchema },
    },
  }, async (request) => {
    const rows = await backtests.listBacktests(app.pool, request.query.ticker);
    return { ticker: request.query.ticker, backtests: rows.map(present) };
  });

  app.get('/backtests/:id', {
    schema: {
      tags: ['backtests'],
      summary: 'One backtest with its per-origin forecasts, intervals and errors',
      params: backtestParamsSchema,
      response: { 200: backtestDetailSchema, 400: errorResponseSchema, 404: errorResponseSchema },
    },
  }, async (request) => {
    const row = await backtests.getBacktest(app.pool, request.params.id);
    if (!row) throw new HttpError(404, `No backtest ${request.params.id}. List them with GET /backtests?ticker=<TICKER>.`);
    return { ...present(row), per_origin: row.per_origin } as BacktestDetail;
  });
};
