import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponseSchema, HttpError } from '@stocks/common';
import { backtests, type BacktestRow } from '@stocks/db';
import type { JobAdmission } from '../training/admission.ts';
import {
  type BacktestDetail, backtestDetailSchema, backtestParamsSchema, backtestRequestSchema, backtestsQuerySchema, backtestsResponseSchema, type BacktestSummary, jobAcceptedSchema,
} from '../schemas.ts';
import { backtestRefusal } from './job-refusals.ts';

export interface BacktestRouteOptions {
  admission: JobAdmission;
}

/** jsonb columns are typed loosely by the repository; their shape is model/backtest.ts's BacktestResult. */
function present(row: Omit<BacktestRow, 'per_origin'>): BacktestSummary {
  return { ...row, created_at: row.created_at.toISOString() } as unknown as BacktestSummary;
}

export const backtestRoutes: FastifyPluginAsync<BacktestRouteOptions> = async (fastify, { admission }) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();

  app.post('/backtest', {
    onRequest: app.requireToken,
    schema: {
      tags: ['backtests'],
      summary: 'Queue a walk-forward backtest of the model beside naive, drift and moving average',
      description: 'At each origin the model is trained (or reused, retraining every retrain_every origins) on bars up to the origin only, forecasts horizon steps and is scored against the actual closes. Result: GET /jobs/:id -> backtest_id -> GET /backtests/:id.',
      body: backtestRequestSchema,
      response: { 202: jobAcceptedSchema, 400: errorResponseSchema, 401: errorResponseSchema, 404: errorResponseSchema, 409: errorResponseSchema, 422: errorResponseSchema, 429: errorResponseSchema },
    },
  }, async (request, reply) => {
    const admitted = await admission.backtest(request.body);
    if (admitted.outcome !== 'accepted') throw backtestRefusal(admitted, request.body);
    return reply.code(202).send({ job_id: admitted.job.job_id, status: admitted.job.status });
  });

  app.get('/backtests', {
    schema: {
      tags: ['backtests'],
      summary: "A ticker's backtests, newest first: aggregates per forecaster (MAE, RMSE, MAPE, MASE, directional accuracy), interval coverage, and band scores (coverage, interval score, QLIKE) beside static, EWMA and GARCH bands with Diebold-Mariano p-values",
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
