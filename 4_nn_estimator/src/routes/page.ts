import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';

const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));
/** uPlot's own files, served from node_modules: no CDN, no bundler. */
const UPLOT_DIR = path.dirname(createRequire(import.meta.url).resolve('uplot'));

/**
 * The forecast page at `/`: plain ES modules and CSS from public/, the chart library from
 * node_modules. It reads the JSON endpoints (/tickers, /prices, /predict, /forecasts, /models,
 * /monitoring, /jobs); nothing is built.
 */
export const pageRoutes: FastifyPluginAsync = async (app) => {
  const index = readFileSync(path.join(PUBLIC_DIR, 'index.html'));
  // Security headers (CSP: own scripts, styles and fetches only; no framing; nosniff) on the page
  // and its assets. Scoped to this plugin: the JSON API and /docs keep their own.
  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"], scriptSrc: ["'self'"], styleSrc: ["'self'"], imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"], objectSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'self'"],
      },
    },
  });
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(index));
  await app.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/assets/', decorateReply: false, wildcard: false, cacheControl: true, maxAge: 60_000 });
  await app.register(fastifyStatic, { root: UPLOT_DIR, prefix: '/vendor/uplot/', decorateReply: false, wildcard: false, allowedPath: (p) => /^\/?uPlot\.(esm\.js|min\.css)$/.test(p) });
};
