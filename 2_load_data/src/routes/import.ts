import type { IncomingMessage } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { badRequest, CsvParseError, errorResponseSchema, HttpError, isDatabaseUnavailable } from '@stocks/common';
import { limitBytes, stalled, tooLarge, untilStopped } from '../body-limit.ts';
import { importCsv } from '../ingest.ts';
import { countIngest, type IngestMetrics } from '../metrics.ts';
import { importQuerySchema, importResponseSchema } from '../schemas.ts';

export interface ImportRouteOptions {
  metrics: IngestMetrics;
  maxBytes: number;
  /** Longest pause between two pieces of an upload before the service cuts it (ms). */
  idleMs: number;
  /** Imports at once in this process; past it a 503 with Retry-After (each holds a connection). */
  maxConcurrent: number;
}

export const importRoutes: FastifyPluginAsync<ImportRouteOptions> = async (app, { metrics, maxBytes, idleMs, maxConcurrent }) => {
  let running = 0;
  // Hand the raw request stream to the route: the CSV is parsed while it arrives, never buffered.
  app.addContentTypeParser(['text/csv', 'application/csv'], (_request, payload, done) => done(null, payload));

  app.withTypeProvider<ZodTypeProvider>().post('/import', {
    onRequest: app.requireToken,
    schema: {
      tags: ['prices'],
      summary: 'Upsert the bars of a Yahoo-format CSV body (Content-Type: text/csv) for one ticker',
      description: `Header Date,Open,High,Low,Close,Adj Close,Volume (order free, Date and Close required). At most ${maxBytes} bytes. `
        + 'All or nothing: a malformed line or an oversized body stores nothing. '
        + `An upload pausing over ${idleMs} ms is cut (408); over ${maxConcurrent} imports at once answer 503 with Retry-After.`,
      querystring: importQuerySchema,
      response: {
        200: importResponseSchema, 400: errorResponseSchema, 401: errorResponseSchema, 408: errorResponseSchema,
        413: errorResponseSchema, 415: errorResponseSchema, 429: errorResponseSchema, 503: errorResponseSchema,
      },
    },
  }, async (request) => {
    const body = request.body as IncomingMessage | undefined;
    if (!body) throw badRequest('Send the CSV as the request body with Content-Type: text/csv.');
    // Another parser (JSON, text/plain) already consumed the body: only text/csv is streamed.
    if (typeof body[Symbol.asyncIterator] !== 'function') {
      throw new HttpError(415, `Send the CSV with Content-Type: text/csv (got ${request.headers['content-type']}).`);
    }
    const declared = Number(request.headers['content-length']);
    if (declared > maxBytes) throw tooLarge(maxBytes);
    if (running >= maxConcurrent) {
      throw new HttpError(503, `${running} imports are running (IMPORT_MAX_CONCURRENT); retry in a few seconds.`, undefined, {
        'retry-after': '5', connection: 'close',
      });
    }
    running++;
    try {
      const upload = untilStopped(limitBytes(body, maxBytes), { idleMs, onIdle: () => stalled(idleMs) });
      const result = await importCsv(app.pool, request.query.ticker, upload);
      countIngest(metrics, result);
      request.log.info({ import: result }, 'import finished');
      return result;
    } catch (err) {
      body.resume(); // discard what we didn't read, so the client gets our answer
      if (err instanceof CsvParseError) throw badRequest(`CSV ${err.message}; nothing was stored.`, { line: err.line });
      if (isDatabaseUnavailable(err)) {
        // Don't read the rest of an upload whose transaction is gone: answer and close.
        throw new HttpError(503, `Database unavailable during the import (${err.message}); nothing was stored. Send the file again.`, undefined, {
          'retry-after': '5', connection: 'close',
        });
      }
      throw err;
    } finally {
      running--;
    }
  });
};
