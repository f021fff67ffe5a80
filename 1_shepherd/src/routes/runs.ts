import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponseSchema, HttpError, rowIdSchema, tickerSchema } from '@stocks/common';
import { runs, type RunRow, type StepRow } from '@stocks/db';
import { MAX_RUN_TICKERS } from '../config.ts';
import { type RunDeps, startRun } from '../run.ts';

const stepSchema = z.object({
  ticker: z.string(), step: z.string(), status: z.enum(['succeeded', 'failed', 'skipped']),
  detail: z.record(z.string(), z.unknown()), error: z.string().nullable(), started_at: z.string(), finished_at: z.string(),
});
const runSchema = z.object({
  id: z.number(), trigger: z.string(), status: z.enum(['running', 'succeeded', 'partial', 'failed', 'skipped']), host: z.string().nullable(),
  tickers: z.array(z.string()), error: z.string().nullable(), started_at: z.string(), finished_at: z.string().nullable(),
  steps: z.array(stepSchema),
});

const present = (r: RunRow & { steps: StepRow[] }) => ({
  id: r.id, trigger: r.trigger, status: r.status, host: r.host, tickers: r.tickers, error: r.error,
  started_at: r.started_at.toISOString(), finished_at: r.finished_at?.toISOString() ?? null,
  steps: r.steps.map((s) => ({
    ticker: s.ticker, step: s.step, status: s.status, detail: s.detail, error: s.error,
    started_at: s.started_at.toISOString(), finished_at: s.finished_at.toISOString(),
  })),
});

export interface RunRouteOptions {
  deps: RunDeps;
  watchlist: string[];
}

export const runRoutes: FastifyPluginAsync<RunRouteOptions> = async (fastify, { deps, watchlist }) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.post('/run', {
    onRequest: app.requireToken,
    schema: {
      tags: ['runs'],
      summary: 'Start a run over the watchlist (or some of it) now; it goes on in the background',
      description: 'One run at a time across every replica: while a run is going, its id is answered (started: false) '
        + `and nothing new starts. Tickers are de-duplicated; at most ${MAX_RUN_TICKERS}, each on WATCHLIST.`,
      body: z.object({
        tickers: z.array(tickerSchema).min(1).max(MAX_RUN_TICKERS)
          .describe(`Watchlist tickers to run (1..${MAX_RUN_TICKERS}); repeats are run once`).optional(),
      }).strict().nullish(),
      response: {
        202: z.object({
          run_id: z.number(),
          tickers: z.array(z.string()),
          started: z.boolean().describe('false: a run was already going; run_id is that run'),
        }),
        400: errorResponseSchema,
        401: errorResponseSchema,
        429: errorResponseSchema,
      },
    },
  }, async (request, reply) => {
    const tickers = request.body?.tickers ? [...new Set(request.body.tickers)] : watchlist;
    const unknown = tickers.filter((t) => !watchlist.includes(t));
    if (unknown.length) {
      const shown = unknown.slice(0, 10).join(', ') + (unknown.length > 10 ? ` and ${unknown.length - 10} more` : '');
      throw new HttpError(400, `Not on the watchlist: ${shown}. WATCHLIST is ${watchlist.join(',')}.`);
    }
    const run = await startRun(deps, 'manual', tickers);
    return reply.code(202).send({ run_id: run.id, tickers: run.tickers, started: run.started });
  });

  app.get('/runs', {
    schema: {
      tags: ['runs'], summary: 'Recent runs, newest first, with every step',
      querystring: z.object({ limit: z.coerce.number().int().min(1).max(200).default(20) }),
      response: { 200: z.object({ runs: z.array(runSchema) }), 400: errorResponseSchema },
    },
  }, async (request) => ({ runs: (await runs.listRuns(app.pool, request.query.limit)).map(present) }));

  app.get('/runs/:id', {
    schema: {
      tags: ['runs'], summary: 'One run with its steps',
      params: z.object({ id: rowIdSchema('a run id from GET /runs') }),
      response: { 200: runSchema, 400: errorResponseSchema, 404: errorResponseSchema },
    },
  }, async (request) => {
    const run = await runs.getRun(app.pool, request.params.id);
    if (!run) throw new HttpError(404, `No run ${request.params.id}.`);
    return present(run);
  });
};
