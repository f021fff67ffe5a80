import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { HISTORY_SINCE_2021, SMALL_MODEL, timedFetch, waitFor } from './support/faults.ts';
import { MARKET_DATA_DIR } from './support/market-data.ts';
import { freePort, type PrivatePostgres, startPrivatePostgres } from './support/private-postgres.ts';
import { type RunningService, startService, stopService } from './support/stack.ts';

/**
 * Postgres restarted under the running services, on a private cluster of this test's own (the
 * shared server at :5432 is never touched). The services are not restarted: they must report the
 * outage on /health/ready while it lasts, answer every request in bounded time, reconnect by
 * themselves (pool, pg-boss, the estimator's LISTEN connection) and have lost nothing.
 */
describe('Postgres restarted while the services run', () => {
  let server: PrivatePostgres;
  let dbUrl: string;
  const services: Record<string, RunningService> = {};

  before(async () => {
    server = await startPrivatePostgres();
    dbUrl = `${server.url}/stocks`;
    const common = { DATABASE_URL: dbUrl, LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0' };
    const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
    services.load_data = await startService('load_data', p1, { ...common, MARKET_DATA_SOURCE: 'csv', MARKET_DATA_DIR });
    services.nn_estimator = await startService('nn_estimator', p2, { ...common, ...SMALL_MODEL, QUEUE_MAINTENANCE_SECONDS: '1' });
    services.shepherd = await startService('shepherd', p3, {
      ...common, WATCHLIST: 'AAPL', LOAD_DATA_URL: services.load_data.url, ESTIMATOR_URL: services.nn_estimator.url,
      JOB_POLL_INTERVAL_MS: '200', INITIAL_HISTORY_YEARS: HISTORY_SINCE_2021,
    });
  });
  after(async () => {
    for (const s of Object.values(services).reverse()) await stopService(s);
    server?.destroy();
  });

  const outputs = () => Object.values(services).map((s) => `--- ${s.name}\n${s.output().slice(-2500)}`).join('\n') + `\n--- postgres\n${server.log().slice(-2000)}`;

  async function counts(): Promise<Record<string, number>> {
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    try {
      const out: Record<string, number> = {};
      for (const table of ['prices', 'models', 'training_jobs', 'shepherd_runs', 'shepherd_steps']) {
        out[table] = Number((await client.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
      }
      return out;
    } finally {
      await client.end();
    }
  }

  test('outage reported, no request hangs, everything reconnects, nothing is lost', async () => {
    const shepherd = services.shepherd!;
    const estimator = services.nn_estimator!;
    const loader = services.load_data!;
    // The shepherd's startup run: loads AAPL, trains its first model.
    const run = await waitFor('the startup run to finish', async () => {
      const r = (await timedFetch(`${shepherd.url}/runs`)).body.runs[0];
      return r && r.status !== 'running' ? r : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250, describe: outputs });
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    const first = await timedFetch(`${estimator.url}/predict?ticker=AAPL&horizon=3`);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const before = await counts();
    const pids = Object.values(services).map((s) => s.process.pid);

    server.stop();
    try {
      // Every service says so on /health/ready, quickly, while staying live.
      for (const s of Object.values(services)) {
        const ready = await waitFor(`${s.name} to report the outage`, async () => {
          const r = await timedFetch(`${s.url}/health/ready`, { timeoutMs: 10_000 });
          return r.status === 503 ? r : undefined;
        }, { timeoutMs: 15_000 });
        assert.equal(ready.body.database, 'down');
        assert.ok(ready.body.message, 'the 503 says why');
        assert.equal((await timedFetch(`${s.url}/health/live`)).status, 200);
      }
      // Requests that need the database fail in bounded time with a message, never hang.
      const probes: Array<[RunningService, string, RequestInit?]> = [
        [loader, '/load', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ticker: 'MSFT', start_date: '2023-01-01', end_date: '2023-02-01' }) }],
        [estimator, '/models?ticker=AAPL'],
        [estimator, '/predict?ticker=MSFT&horizon=3'],
        [estimator, '/train', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ticker: 'AAPL' }) }],
        [shepherd, '/runs'],
      ];
      for (const [s, url, init] of probes) {
        const r = await timedFetch(`${s.url}${url}`, { ...init, timeoutMs: 20_000 });
        assert.ok(r.status >= 500, `${s.name} ${url} during the outage: ${r.status}`);
        assert.ok(r.body?.message, `${s.name} ${url}: the error says something`);
        assert.ok(r.ms < 15_000, `${s.name} ${url} answered in ${r.ms} ms`);
      }
    } finally {
      server.start();
    }

    // Back without restarting anything.
    for (const s of Object.values(services)) {
      await waitFor(`${s.name} ready again`, async () => (await timedFetch(`${s.url}/health/ready`)).status === 200, { timeoutMs: 30_000, intervalMs: 250, describe: outputs });
    }
    assert.deepEqual(Object.values(services).map((s) => s.process.pid), pids);
    assert.ok(Object.values(services).every((s) => s.process.exitCode === null), 'no service died');
    assert.deepEqual(await counts(), before, 'nothing stored was lost');

    // The pool serves again; the champion answers (reloaded: the listener dropped its cache).
    const again = await waitFor('a forecast after the restart', async () => {
      const r = await timedFetch(`${estimator.url}/predict?ticker=AAPL&horizon=3`);
      return r.status === 200 ? r : undefined;
    }, { timeoutMs: 20_000, intervalMs: 250 });
    assert.equal(again.body.model_version, first.body.model_version);

    // pg-boss recovered: a new training is taken and finished by the worker. The LISTEN
    // connection recovered: the promotion's NOTIFY makes /predict serve the new version.
    const train = await timedFetch(`${estimator.url}/train`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ticker: 'AAPL' }) });
    assert.equal(train.status, 202, JSON.stringify(train.body));
    const job = await waitFor('the post-restart job', async () => {
      const j = (await timedFetch(`${estimator.url}/jobs/${train.body.job_id}`)).body;
      return j.status === 'succeeded' || j.status === 'failed' ? j : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250, describe: outputs });
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    await waitFor('the new champion served', async () => {
      const r = await timedFetch(`${estimator.url}/predict?ticker=AAPL&horizon=3`);
      return r.status === 200 && r.body.model_version === job.model_version;
    }, { timeoutMs: 10_000, intervalMs: 200, describe: outputs });

    // The shepherd's runs work again too (AAPL is fresh: nothing to do, but it is recorded).
    const manual = await timedFetch(`${shepherd.url}/run`, { method: 'POST' });
    assert.equal(manual.status, 202, JSON.stringify(manual.body));
    const second = await waitFor('the manual run', async () => {
      const r = (await timedFetch(`${shepherd.url}/runs/${manual.body.run_id}`)).body;
      return r.status !== 'running' ? r : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    assert.equal(second.status, 'succeeded', JSON.stringify(second));
  });
});
