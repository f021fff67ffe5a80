import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type PgBoss from 'pg-boss';
import { prices } from '@stocks/db';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { buildApp as buildLoader } from '../2_load_data/src/app.ts';
import { loadLoadDataEnv } from '../2_load_data/src/config.ts';
import { buildApp as buildEstimator } from '../4_nn_estimator/src/app.ts';
import { loadEstimatorEnv } from '../4_nn_estimator/src/config.ts';
import { initBackend } from '../4_nn_estimator/src/training/backend.ts';
import { startQueue } from '../4_nn_estimator/src/training/queue.ts';
import { buildApp as buildShepherd } from '../1_shepherd/src/app.ts';
import { loadShepherdEnv } from '../1_shepherd/src/config.ts';
import { SMALL_MODEL, waitFor } from './support/faults.ts';
import { MARKET_DATA_DIR, readMarketData } from './support/market-data.ts';

/**
 * Every route of the three services, fuzzed from its own OpenAPI schema (/docs/json) with
 * fast-check: bodies, query strings and path parameters that look valid, that are almost valid,
 * and that are plain wrong (other types, huge, empty, odd unicode, broken JSON), with API_TOKEN set
 * (mostly sent, sometimes not). Whatever comes in: no 5xx, every 4xx carries a message, and a
 * rejected request changes nothing stored. Each write route also gets bodies that are valid by
 * construction, and a share of those must succeed: otherwise only the validator would be tested.
 */
const RUNS_PER_ROUTE = Number(process.env.FUZZ_RUNS ?? 20);
const SEED = Number(process.env.FUZZ_SEED ?? 20240611);
const TIMEOUT_MS = 15_000;
const TOKEN = 'fuzz-token-0123456789abcdef';
/** Of the valid-by-construction requests to a write route, at least this share must succeed (2xx). */
const MIN_VALID_SUCCESS = 0.3;

type Json = any;
interface Operation { method: string; path: string; params: Json[]; body?: Json }
interface Target {
  name: string;
  inject: (opts: { method: string; url: string; payload?: string; headers?: Record<string, string> }) => Promise<{ statusCode: number; body: string }>;
  db: TestDatabase;
  /** Wait for work an accepted request started in the background (shepherd runs). */
  settle?: () => Promise<void>;
  /** Requests valid by construction, per "METHOD /path" of a write route that can succeed. */
  valid?: Record<string, fc.Arbitrary<{ url: string; payload?: string }>>;
}

const json = (v: unknown) => JSON.stringify(v);
const ticker = fc.constantFrom('AAPL', 'MSFT');

// --- values ----------------------------------------------------------------------------------

const TICKERS = ['AAPL', 'AAPL', 'AAPL', 'MSFT', '^GSPC', 'BTC-USD', 'NOPE', 'aapl', 'A'.repeat(20), '', ' ', 'AAPL;DROP TABLE prices', '../etc/passwd'];
const DATES = ['2023-06-01', '2023-12-29', '2023-11-01', '2023-10-02', '2020-02-30', '2023-13-01', '1900-01-01', '2999-01-01', '2023-6-1', 'yesterday', ''];
const ODD = ['\u0000', '\u202e', '😀', 'é', '\ud800', '%', '%00', '?&=', 'null', 'true', '[]', '{}', '-1', '1e309', 'NaN'];
const huge = fc.constantFrom('A'.repeat(2_000), 'x'.repeat(70_000), '9'.repeat(400));

const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc.constantFrom(...ODD),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(''),
  huge,
  fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
);

/** A value shaped by a JSON schema (approximately), else junk. */
function fromSchema(schema: Json, name = '', depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 3) return junk;
  const s = schema.anyOf?.[0] ?? schema.oneOf?.[0] ?? schema.allOf?.[0] ?? schema;
  const lname = name.toLowerCase();
  let valid: fc.Arbitrary<unknown>;
  if (s.enum) valid = fc.constantFrom(...s.enum);
  else if (s.type === 'integer' || s.type === 'number') {
    const min = s.minimum ?? s.exclusiveMinimum ?? -5;
    const max = s.maximum ?? s.exclusiveMaximum ?? min + 100;
    valid = fc.oneof(fc.integer({ min: Math.ceil(min), max: Math.floor(Math.min(max, min + 1_000_000)) }), fc.constantFrom(min - 1, max + 1, 0, -1, 1.5));
  } else if (s.type === 'boolean') valid = fc.boolean();
  else if (s.type === 'array') {
    valid = fc.array(fromSchema(s.items, name, depth + 1), { maxLength: lname === 'bars' ? 80 : 5 });
  } else if (s.type === 'object' || s.properties) {
    const props = Object.entries<Json>(s.properties ?? {});
    valid = props.length
      ? fc.record(Object.fromEntries(props.map(([k, v]) => [k, fromSchema(v, k, depth + 1)])), { requiredKeys: [] })
      : fc.object({ maxDepth: 1 });
  } else if (lname.includes('ticker')) valid = fc.constantFrom(...TICKERS);
  else if (lname.includes('date') || s.format === 'date') valid = fc.constantFrom(...DATES);
  else if (s.format === 'uuid' || lname === 'id') valid = fc.oneof(fc.uuid(), fc.constantFrom('not-a-uuid', '1', '00000000-0000-0000-0000-000000000000'));
  else valid = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...ODD));
  return fc.oneof({ weight: 6, arbitrary: valid }, { weight: 1, arbitrary: junk });
}

/** The body to send: mostly from the schema, sometimes anything, sometimes not JSON at all. */
function bodyArb(schema: Json | undefined): fc.Arbitrary<string | undefined> {
  const raw = fc.constantFrom('', '{', '{"ticker":', 'null', '[]', '"x"', '{"a":1}{', '\u0000', '{"ticker":"AAPL","ticker":"MSFT"}');
  return fc.oneof(
    { weight: 4, arbitrary: fromSchema(schema ?? { type: 'object' }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 1, arbitrary: raw },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

/** encodeURIComponent, but a lone surrogate becomes invalid UTF-8 on the wire instead of throwing. */
function enc(v: string): string {
  try {
    return encodeURIComponent(v);
  } catch {
    return encodeURIComponent(v.replace(/[\ud800-\udfff]/g, '')) + '%ED%A0%80';
  }
}

function requestArb(op: Operation): fc.Arbitrary<{ url: string; payload?: string; contentType?: string }> {
  const query = op.params.filter((p) => p.in === 'query');
  const path = op.params.filter((p) => p.in === 'path');
  const q = fc.record(Object.fromEntries(query.map((p) => [p.name, fromSchema(p.schema, p.name)])), { requiredKeys: [] });
  const pp = fc.record(Object.fromEntries(path.map((p) => [p.name, fromSchema(p.schema, p.name)])));
  const extraQuery = fc.oneof(fc.constant(''), fc.constantFrom('&x=1', '&ticker=AAPL&ticker=MSFT', '&horizon[]=1', '&%zz', '&' + 'q'.repeat(5000)));
  const hasBody = !['GET', 'HEAD', 'DELETE'].includes(op.method);
  return fc.tuple(q, pp, extraQuery, hasBody ? bodyArb(op.body) : fc.constant(undefined), fc.oneof({ weight: 8, arbitrary: fc.constant('application/json') }, { weight: 1, arbitrary: fc.constantFrom('text/plain', 'text/csv', 'application/x-www-form-urlencoded') })).map(
    ([qv, pv, extra, payload, contentType]) => {
      let url = op.path.replace(/\{(\w+)\}/g, (_m, n) => enc(String((pv as any)[n] ?? '')));
      const qs = Object.entries(qv).map(([k, v]) => `${enc(k)}=${enc(typeof v === 'string' ? v : String(JSON.stringify(v)))}`).join('&');
      url += `?${qs}${extra}`;
      return { url, payload, contentType: payload === undefined ? undefined : contentType };
    },
  );
}

async function operations(t: Target): Promise<Operation[]> {
  const res = await t.inject({ method: 'GET', url: '/docs/json' });
  assert.equal(res.statusCode, 200);
  const doc = JSON.parse(res.body);
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries<Json>(doc.paths)) {
    for (const [method, op] of Object.entries<Json>(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      ops.push({ method: method.toUpperCase(), path, params: [...(item.parameters ?? []), ...(op.parameters ?? [])], body: op.requestBody?.content?.['application/json']?.schema });
    }
  }
  return ops;
}

// --- what "unchanged" means ------------------------------------------------------------------

async function fingerprint(db: TestDatabase): Promise<string> {
  const { rows: tables } = await db.pool.query<{ t: string }>(
    `SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables
      WHERE schemaname IN ('public', 'pgboss') AND tablename NOT IN ('schemaversion', 'version') ORDER BY 1`,
  );
  const parts = await Promise.all(tables.map(async ({ t }) => {
    const { rows } = await db.pool.query(`SELECT count(*) AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM ${t} x`);
    return `${t}:${rows[0].n}:${rows[0].h}`;
  }));
  return parts.join('\n');
}

async function stable(db: TestDatabase): Promise<void> {
  let last = await fingerprint(db);
  await waitFor('the database to settle', async () => {
    await new Promise((r) => setTimeout(r, 60));
    const now = await fingerprint(db);
    const same = now === last;
    last = now;
    return same;
  }, { timeoutMs: 10_000, intervalMs: 0 });
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${TIMEOUT_MS} ms: ${what}`)), TIMEOUT_MS);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e) => { clearTimeout(t); reject(e); });
  });
}

async function fuzz(t: Target): Promise<Record<string, Record<number, number>>> {
  const ops = await operations(t);
  assert.ok(ops.length >= 4, `${t.name}: routes found in /docs/json`);
  const seen: Record<string, Record<number, number>> = {};
  for (const op of ops) {
    const key = `${op.method} ${op.path}`;
    seen[key] = {};
    const validArb = t.valid?.[key]?.map((r) => ({ ...r, contentType: 'application/json' as string | undefined, valid: true, token: true }));
    const anyArb = fc.tuple(requestArb(op), fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }))
      .map(([r, token]) => ({ ...r, valid: false, token }));
    const arb = validArb ? fc.oneof(anyArb, validArb) : anyArb;
    const tally = { valid: 0, succeeded: 0 };
    await fc.assert(
      fc.asyncProperty(arb, async (req) => {
        const before = await fingerprint(t.db);
        const what = `${t.name} ${op.method} ${req.url.slice(0, 200)} body=${req.payload?.slice(0, 200)}`;
        const headers: Record<string, string> = req.contentType ? { 'content-type': req.contentType } : {};
        if (req.token) headers.authorization = `Bearer ${TOKEN}`;
        const res = await withTimeout(t.inject({ method: op.method, url: req.url, payload: req.payload, headers }), what);
        seen[key]![res.statusCode] = (seen[key]![res.statusCode] ?? 0) + 1;
        if (req.valid) {
          tally.valid++;
          if (res.statusCode < 300) tally.succeeded++;
        }
        assert.ok(res.statusCode < 500, `${what} -> ${res.statusCode} ${res.body.slice(0, 500)}`);
        if (res.statusCode >= 400) {
          const body = JSON.parse(res.body);
          assert.ok(typeof body.message === 'string' && body.message.length > 0, `${what}: a ${res.statusCode} without message`);
          assert.equal(body.statusCode, res.statusCode, what);
          assert.equal(await fingerprint(t.db), before, `${what}: a rejected request changed stored data`);
        } else {
          await t.settle?.();
          await stable(t.db);
        }
      }),
      { numRuns: RUNS_PER_ROUTE, seed: SEED, endOnFailure: true },
    );
    if (validArb) {
      assert.ok(tally.valid > 0, `${key}: no valid request was generated`);
      assert.ok(tally.succeeded / tally.valid >= MIN_VALID_SUCCESS,
        `${key}: only ${tally.succeeded} of ${tally.valid} valid requests succeeded: ${JSON.stringify(seen[key])}`);
      seen[`${key} (valid: succeeded/sent)`] = { [tally.succeeded]: tally.valid };
    }
  }
  return seen;
}

// --- the three services ----------------------------------------------------------------------

describe('every endpoint fuzzed from its schema', () => {
  const dbs: TestDatabase[] = [];
  let boss: PgBoss;
  const closers: Array<() => Promise<unknown>> = [];

  before(async () => {
    for (let i = 0; i < 3; i++) dbs.push(await createTestDatabase('stocks_fuzz'));
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
    await boss?.stop({ graceful: false, wait: true });
    for (const db of dbs) await db.drop();
  });

  const inject = (app: { inject: (o: any) => Promise<any> }): Target['inject'] => async (o) => {
    const res = await app.inject(o);
    return { statusCode: res.statusCode, body: res.body };
  };

  test('2_load_data', async (t) => {
    const db = dbs[0]!;
    const app = await buildLoader({
      env: loadLoadDataEnv({ DATABASE_URL: db.url, MARKET_DATA_SOURCE: 'csv', MARKET_DATA_DIR, RATE_LIMIT_PER_MINUTE: '0', LOG_LEVEL: 'silent', API_TOKEN: TOKEN }),
      pool: db.pool, logger: false,
    });
    closers.push(() => app.close());
    const valid = {
      'POST /load': fc.tuple(ticker, fc.integer({ min: 1, max: 28 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 60 }))
        .map(([tk, day, month, span]) => {
          const start = `2023-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
          const end = new Date(Date.parse(`${start}T00:00:00Z`) + span * 86_400_000).toISOString().slice(0, 10);
          return { url: '/load', payload: json({ ticker: tk, start_date: start, end_date: end < '2023-12-29' ? end : '2023-12-29' }) };
        }),
    };
    t.diagnostic(JSON.stringify(await fuzz({ name: 'load_data', inject: inject(app), db, valid })));
  });

  test('4_nn_estimator (API role, a champion in store)', async (t) => {
    const db = dbs[1]!;
    // The champion is trained on all but the last 20 bars, which arrive afterwards: a fine-tune
    // then has new bars to learn from (with none it is refused with 409, by design).
    const aapl = await readMarketData('AAPL', 500);
    await prices.upsertPrices(db.pool, 'AAPL', 'csv', aapl.slice(0, -20));
    const backend = await initBackend();
    boss = await startQueue(db.url, { retryLimit: 0, expireInSeconds: 600 }, () => {});
    const env = (role: string) => loadEstimatorEnv({
      DATABASE_URL: db.url, ...SMALL_MODEL, ESTIMATOR_ROLE: role, RATE_LIMIT_PER_MINUTE: '0', PREDICT_RATE_LIMIT_PER_MINUTE: '0', LOG_LEVEL: 'silent', API_TOKEN: TOKEN,
    });
    // A worker trains AAPL's champion first, so /predict and /models have something to serve...
    const trainer = await buildEstimator({ env: env('both'), pool: db.pool, boss, backend, logger: false });
    const job = (await trainer.inject({ method: 'POST', url: '/train', payload: { ticker: 'AAPL' }, headers: { authorization: `Bearer ${TOKEN}` } })).json();
    await waitFor('the champion', async () => (await trainer.inject(`/jobs/${job.job_id}`)).json().status === 'succeeded', { timeoutMs: 60_000, intervalMs: 200 });
    await trainer.close();
    await prices.upsertPrices(db.pool, 'AAPL', 'csv', aapl.slice(-20));
    // ...then the API alone is fuzzed: accepted trainings stay queued and change nothing behind our back.
    const app = await buildEstimator({ env: env('api'), pool: db.pool, boss, backend, logger: false });
    closers.push(() => app.close());
    const stored = await prices.getRecentPrices(db.pool, 'AAPL', 200);
    const valid = {
      'POST /train': fc.constant({ url: '/train', payload: json({ ticker: 'AAPL' }) }),
      'POST /fine-tune': fc.constant({ url: '/fine-tune', payload: json({ ticker: 'AAPL' }) }),
      'POST /backtest': fc.constant({ url: '/backtest', payload: json({ ticker: 'AAPL', origins: 3, horizon: 2 }) }),
      'POST /predict': fc.tuple(fc.integer({ min: 60, max: 200 }), fc.integer({ min: 1, max: 30 }), fc.double({ min: 0.5, max: 2, noNaN: true }))
        .map(([n, horizon, scale]) => ({
          url: '/predict',
          payload: json({ ticker: 'AAPL', horizon, bars: stored.slice(-n).map((b) => ({ date: b.date, close: b.close * scale })) }),
        })),
    };
    t.diagnostic(JSON.stringify(await fuzz({ name: 'nn_estimator', inject: inject(app), db, valid })));
  });

  test('1_shepherd', async (t) => {
    const db = dbs[2]!;
    // The services it calls are unreachable: an accepted run fails quickly, in the background.
    const app = await buildShepherd({
      env: loadShepherdEnv({
        DATABASE_URL: db.url, WATCHLIST: 'AAPL,MSFT', LOAD_DATA_URL: 'http://127.0.0.1:9', ESTIMATOR_URL: 'http://127.0.0.1:9',
        RATE_LIMIT_PER_MINUTE: '0', LOG_LEVEL: 'silent', JOB_POLL_INTERVAL_MS: '50', API_TOKEN: TOKEN,
      }),
      pool: db.pool, logger: false,
    });
    closers.push(() => app.close());
    const settle = () => waitFor('background runs to finish', async () => {
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM shepherd_runs WHERE status = 'running'`);
      return rows[0].n === 0;
    }, { timeoutMs: 20_000, intervalMs: 20 }).then(() => {});
    const valid = {
      'POST /run': fc.subarray(['AAPL', 'MSFT', 'aapl'], { minLength: 1 }).map((tickers) => ({ url: '/run', payload: json({ tickers }) })),
    };
    t.diagnostic(JSON.stringify(await fuzz({ name: 'shepherd', inject: inject(app), db, settle, valid })));
  });
});
