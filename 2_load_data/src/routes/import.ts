import type { IncomingMessage } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { badRequest, CsvParseError, errorResponseSchema, HttpError } from '@stocks/common';
import { limitBytes, tooLarge } from '../body-limit.ts';
import { importCsv } from '../ingest.ts';
import { countIngest, type IngestMetrics } from '../metrics.ts';
import { importQuerySchema, importResponseSchema } from '../schemas.ts';

export interface ImportRouteOptions {
  metrics: IngestMetrics;
  maxBytes: number;
}

export const importRoutes: FastifyPluginAsync<ImportRouteOptions> = async (app, { metrics, maxBytes }) => {
  // Hand the raw request stream to the route: the CSV is parsed while it arrives, never buffered.
  app.addContentTypeParser(['text/csv', 'application/csv'], (_request, payload, done) => done(null, payload));

  app.withTypeProvider<ZodTypeProvider>().post('/import', {
    onRequest: app.requireToken,
    schema: {
      tags: ['prices'],
      summary: 'Upsert the bars of a Yahoo-format CSV body (Content-Type: text/csv) for one ticker',
      description: `Header Date,Open,High,Low,Close,Adj Close,Volume (order free, Date and Close required). At most ${maxBytes} bytes. `
        + 'All or nothing: a malformed line or an oversized body stores nothing.',
      querystring: importQuerySchema,
      response: { 200: importResponseSchema, 400: errorResponseSchema, 413: errorResponseSchema, 415: errorResponseSchema },
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
    try {
      const result = await importCsv(app.pool, request.query.ticker, limitBytes(body, maxBytes));
      countIngest(metrics, result);
      request.log.info({ import: result }, 'import finished');
      return result;
    } catch (err) {
      body.resume(); // discard what we didn't read, so the client gets our answer
      if (err instanceof CsvParseError) throw badRequest(`CSV ${err.message}; nothing was stored.`, { line: err.line });
      throw err;
    }
  });
};
