import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type PgBoss from 'pg-boss';
import { errorResponseSchema, HttpError } from '@stocks/common';
import { backtests, jobs, models, prices } from '@stocks/db';
import type { ModelConfig } from '../model/config.ts';
import { minimumBarsForTraining } from '../model/dataset.ts';
import { resolveModelConfig } from '../model/config.ts';
import { type QueueOptions, submitJob } from '../training/queue.ts';
import { fineTuneRequestSchema, jobAcceptedSchema, jobParamsSchema, jobSchema, trainRequestSchema } from '../schemas.ts';
import { noStoredPrices } from '../errors.ts';

export interface TrainingRouteOptions {
  boss: PgBoss;
  queue: QueueOptions;
  modelOverrides: Partial<ModelConfig>;
}

export const trainingRoutes: FastifyPluginAsync<TrainingRouteOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const needed = minimumBarsForTraining(resolveModelConfig(opts.modelOverrides));

  app.post('/train', {
    onRequest: app.requireToken,
    schema: {
      tags: ['training'],
      summary: 'Queue a full training on stored prices up to end_date',
      body: trainRequestSchema,
      response: { 202: jobAcceptedSchema, 400: errorResponseSchema, 404: errorResponseSchema, 422: errorResponseSchema },
    },
  }, async (request, reply) => {
    const { ticker, end_date } = request.body;
    const coverage = await prices.getCoverage(app.pool, ticker);
    if (!coverage) throw noStoredPrices(ticker);
    if (coverage.rows < needed) {
      throw new HttpError(422, `${ticker} has ${coverage.rows} stored bars; training needs at least ${needed}. Load a longer history first.`);
    }
    const active = await jobs.findActiveJob(app.pool, ticker, 'train');
    if (active) return reply.code(202).send({ job_id: active.id, status: active.status as 'queued' | 'running' });
    const id = await submitJob(app.pool, opts.boss, { kind: 'train', ticker, params: end_date ? { end_date } : {} }, opts.queue);
    return reply.code(202).send({ job_id: id, status: 'queued' });
  });

  app.post('/fine-tune', {
    onRequest: app.requireToken,
    schema: {
      tags: ['training'],
      summary: "Queue a fine-tune of the ticker's champion on the data that arrived since it was trained",
      description: 'The result is a challenger; it becomes champion only if it is not worse than the champion on the same recent window.',
      body: fineTuneRequestSchema,
      response: { 202: jobAcceptedSchema, 400: errorResponseSchema, 404: errorResponseSchema },
    },
  }, async (request, reply) => {
    const { ticker } = request.body;
    if (!(await models.getChampionVersion(app.pool, ticker))) {
      throw new HttpError(404, `${ticker} has no model to fine-tune. Train one first: POST /train {"ticker":"${ticker}"}.`);
    }
    const active = await jobs.findActiveJob(app.pool, ticker, 'fine-tune');
    if (active) return reply.code(202).send({ job_id: active.id, status: active.status as 'queued' | 'running' });
    const id = await submitJob(app.pool, opts.boss, { kind: 'fine-tune', ticker, params: {} }, opts.queue);
    return reply.code(202).send({ job_id: id, status: 'queued' });
  });
};

export const jobRoutes: FastifyPluginAsync = async (fastify) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.get('/jobs/:id', {
    schema: {
      tags: ['training'],
      summary: 'Status of a training job',
      params: jobParamsSchema,
      response: { 200: jobSchema, 400: errorResponseSchema, 404: errorResponseSchema },
    },
  }, async (request) => {
    const job = await jobs.getJob(app.pool, request.params.id);
    if (!job) throw new HttpError(404, `No job ${request.params.id}.`);
    const backtestId = job.kind === 'backtest' && job.status === 'succeeded' ? await backtests.getBacktestIdForJob(app.pool, job.id) : undefined;
    return {
      job_id: job.id,
      kind: job.kind,
      ticker: job.ticker,
      status: job.status,
      ...(job.model_version !== null ? { model_version: job.model_version } : {}),
      ...(backtestId !== undefined ? { backtest_id: backtestId } : {}),
      ...(job.error ? { error: job.error } : {}),
      attempts: job.attempts,
      created_at: job.created_at.toISOString(),
      started_at: job.started_at?.toISOString() ?? null,
      finished_at: job.finished_at?.toISOString() ?? null,
    };
  });
};
