import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { z } from 'zod';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  baseEnvSchema, ConnectionLostError, createPool, createServiceApp, holdClient, HttpError, listenHost, loadEnv, nextTradingDays, tradingDaysBetween,
} from '../src/index.ts';
import { TEST_SERVER_URL } from '../../3_db/src/testing.ts';

const pool = createPool(`${TEST_SERVER_URL}/postgres`, { max: 2 });
after(() => pool.end());

async function buildDemo(opts: { apiToken?: string; rateLimitPerMinute?: number } = {}) {
  const app = await createServiceApp({ service: 'demo', description: 'demo', pool, logger: false, ...opts });
  const typed = app.withTypeProvider<ZodTypeProvider>();
  typed.post('/things', { onRequest: app.requireToken, schema: { body: z.object({ name: z.string().min(2) }) } }, async (req) => ({ ok: req.body.name }));
  typed.get('/boom', async () => { throw new Error('secret internal detail'); });
  typed.get('/teapot', async () => { throw new HttpError(409, 'Already there: pick another name.'); });
  return app;
}

test('errors share one format: validation 400 names the field, HttpError keeps its status, 500 hides internals', async () => {
  const app = await buildDemo();
  const bad = await app.inject({ method: 'POST', url: '/things', payload: { name: 'x' } });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.json().message, /body\.name/);
  assert.deepEqual(Object.keys(bad.json()).sort(), ['details', 'error', 'message', 'statusCode']);
  const conflict = await app.inject('/teapot');
  assert.deepEqual(conflict.json(), { statusCode: 409, error: 'Conflict', message: 'Already there: pick another name.' });
  const boom = await app.inject('/boom');
  assert.equal(boom.statusCode, 500);
  assert.ok(!boom.body.includes('secret internal detail'));
  assert.ok(boom.headers['x-request-id']);
  const echoed = await app.inject({ url: '/health/live', headers: { 'x-request-id': 'abc-123' } });
  assert.equal(echoed.headers['x-request-id'], 'abc-123');
  await app.close();
});

test('with API_TOKEN set, writes need the bearer token and reads stay open', async () => {
  const app = await buildDemo({ apiToken: 'a-very-long-token-123' });
  assert.equal((await app.inject({ method: 'POST', url: '/things', payload: { name: 'ok' } })).statusCode, 401);
  const wrong = await app.inject({ method: 'POST', url: '/things', payload: { name: 'ok' }, headers: { authorization: 'Bearer nope' } });
  assert.equal(wrong.statusCode, 401);
  assert.match(wrong.json().message, /Authorization: Bearer/);
  const right = await app.inject({ method: 'POST', url: '/things', payload: { name: 'ok' }, headers: { authorization: 'Bearer a-very-long-token-123' } });
  assert.equal(right.statusCode, 200);
  assert.equal((await app.inject('/health/live')).statusCode, 200);
  await app.close();
});

test('OpenAPI: every route behind the token declares security bearer and its 401', async () => {
  const app = await buildDemo({ apiToken: 'a-very-long-token-123' });
  await app.ready();
  const doc = (await app.inject('/docs/json')).json();
  assert.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer' });
  const things = doc.paths['/things'].post;
  assert.deepEqual(things.security, [{ bearer: [] }]);
  assert.ok(things.responses['401'], JSON.stringify(things.responses));
  assert.equal(doc.paths['/teapot'].get.security, undefined, 'reads stay open');
  await app.close();
});

test('requests are logged at info, health checks and scrapes at debug', async () => {
  const lines: Array<{ level: number; msg: string; req?: { url: string } }> = [];
  const logStream = { write: (line: string) => void lines.push(JSON.parse(line)) };
  const app = await createServiceApp({ service: 'demo', description: 'demo', pool, logLevel: 'debug', logStream });
  app.get('/things', async () => ({ ok: true }));
  for (const url of ['/things', '/health/live', '/health/ready', '/metrics']) assert.equal((await app.inject(url)).statusCode, 200, url);
  const incoming = lines.filter((l) => l.msg === 'incoming request');
  const levelOf = (url: string) => incoming.find((l) => l.req?.url === url)?.level;
  assert.equal(levelOf('/things'), 30);
  for (const url of ['/health/live', '/health/ready', '/metrics']) assert.equal(levelOf(url), 20, url);
  assert.equal(lines.filter((l) => l.msg === 'request completed').length, 4);
  await app.close();
});

test('each service exports its Postgres pool: total, idle and waiting', async () => {
  const app = await buildDemo();
  const held = await Promise.all([pool.connect(), pool.connect()]);
  const waiting = pool.query('SELECT 1');
  const metrics = (await app.inject('/metrics')).body;
  const value = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
  assert.equal(value('db_pool_total_connections'), 2);
  assert.equal(value('db_pool_idle_connections'), 0);
  assert.equal(value('db_pool_waiting_clients'), 1);
  held.forEach((c) => c.release());
  await waiting;
  await app.close();
});

test('writes are rate limited per client with a 429 that says when to retry; reads are not', async () => {
  const app = await buildDemo({ rateLimitPerMinute: 3 });
  const codes = [];
  for (let i = 0; i < 5; i++) codes.push((await app.inject({ method: 'POST', url: '/things', payload: { name: 'ok' } })).statusCode);
  assert.deepEqual(codes, [200, 200, 200, 429, 429]);
  const limited = await app.inject({ method: 'POST', url: '/things', payload: { name: 'ok' } });
  assert.match(limited.json().message, /Retry in \d+ s/);
  assert.ok(limited.headers['retry-after']);
  for (let i = 0; i < 10; i++) assert.equal((await app.inject('/health/live')).statusCode, 200);
  await app.close();
});

test('health/ready reports the database and /metrics is Prometheus text', async () => {
  const app = await buildDemo();
  assert.deepEqual((await app.inject('/health/ready')).json(), { status: 'ok', database: 'up' });
  const metrics = await app.inject('/metrics');
  assert.match(metrics.headers['content-type'] as string, /text\/plain/);
  assert.match(metrics.body, /process_resident_memory_bytes\{service="demo"\}/);
  await app.close();
  const down = await createServiceApp({ service: 'demo', description: 'demo', pool: createPool('postgres://postgres@127.0.0.1:1/none'), logger: false });
  const ready = await down.inject('/health/ready');
  assert.equal(ready.statusCode, 503);
  assert.equal(ready.json().database, 'down');
  await down.close();
});

test('the environment is validated once with every problem listed', () => {
  assert.throws(() => loadEnv(baseEnvSchema, { DATABASE_URL: 'not a url', LOG_LEVEL: 'loud' }), /DATABASE_URL[\s\S]*LOG_LEVEL/);
  assert.equal(loadEnv(baseEnvSchema, { API_TOKEN: '' }).API_TOKEN, undefined);
});

test('trading calendar: weekdays for equities, every day for crypto', () => {
  assert.deepEqual(nextTradingDays('AAPL', '2024-03-08', 3), ['2024-03-11', '2024-03-12', '2024-03-13']);
  assert.deepEqual(nextTradingDays('BTC-USD', '2024-03-08', 2), ['2024-03-09', '2024-03-10']);
  assert.equal(tradingDaysBetween('AAPL', '2024-03-08', '2024-03-11'), 1);
});

test('with a token set, the limiter runs before auth: a client guessing tokens is limited; the token holder is not', async () => {
  const app = await buildDemo({ apiToken: 'a-very-long-token-123', rateLimitPerMinute: 3 });
  const guess = async () => (await app.inject({ method: 'POST', url: '/things', payload: { name: 'ok' }, headers: { authorization: 'Bearer guess' } })).statusCode;
  const codes = [];
  for (let i = 0; i < 5; i++) codes.push(await guess());
  assert.deepEqual(codes, [401, 401, 401, 429, 429]);
  const missing = await app.inject({ method: 'POST', url: '/things', payload: { name: 'ok' } });
  assert.equal(missing.statusCode, 429, 'no token at all is limited too');
  // The operator's and the shepherd's calls (with the token) never count against a client's limit.
  for (let i = 0; i < 10; i++) {
    const ok = await app.inject({ method: 'POST', url: '/things', payload: { name: 'ok' }, headers: { authorization: 'Bearer a-very-long-token-123' } });
    assert.equal(ok.statusCode, 200);
  }
  await app.close();
});

test('a service binds 127.0.0.1 without a token unless HOST says otherwise', () => {
  assert.equal(listenHost(loadEnv(baseEnvSchema, {})), '127.0.0.1');
  assert.equal(listenHost(loadEnv(baseEnvSchema, { API_TOKEN: 'a-very-long-token-123' })), '0.0.0.0');
  assert.equal(listenHost(loadEnv(baseEnvSchema, { HOST: '0.0.0.0' })), '0.0.0.0');
});

test('404s never name a server path; a lost connection or an exhausted pool answers 503 with Retry-After', async () => {
  const app = await buildDemo();
  app.get('/file', async () => {
    throw Object.assign(new Error("ENOENT: no such file or directory, stat '/srv/app/public/missing.js'"), { statusCode: 404, code: 'ENOENT' });
  });
  app.get('/db-gone', async () => { throw new ConnectionLostError(new Error('Connection terminated unexpectedly')); });
  const missing = await app.inject('/file');
  assert.equal(missing.statusCode, 404);
  assert.ok(!missing.body.includes('/srv/app'), missing.body);
  const gone = await app.inject('/db-gone');
  assert.equal(gone.statusCode, 503);
  assert.equal(gone.headers['retry-after'], '5');
  await app.close();

  const tiny = createPool(`${TEST_SERVER_URL}/postgres`, { max: 1 });
  const held = await holdClient(tiny);
  const busy = await createServiceApp({ service: 'demo', description: 'demo', pool: tiny, logger: false });
  busy.get('/query', async () => (await tiny.query('SELECT 1 AS one')).rows[0]);
  const started = Date.now();
  const answer = await busy.inject('/query');
  assert.equal(answer.statusCode, 503, answer.body);
  assert.ok(Date.now() - started < 10_000, 'answered within the checkout timeout, not hanging');
  held.release();
  await busy.close();
  await tiny.end();
});

test('a held client losing its connection aborts its unit of work instead of crashing the process', async () => {
  const held = await holdClient(pool);
  const { rows } = await held.client.query('SELECT pg_backend_pid() AS pid');
  const other = createPool(`${TEST_SERVER_URL}/postgres`, { max: 1 });
  await other.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
  await new Promise<void>((resolve) => (held.lost.aborted ? resolve() : held.lost.addEventListener('abort', () => resolve())));
  assert.ok(held.lost.reason instanceof ConnectionLostError);
  held.release();
  await other.end();
  assert.equal((await pool.query('SELECT 1 AS one')).rows[0].one, 1, 'the pool goes on with a fresh connection');
});
