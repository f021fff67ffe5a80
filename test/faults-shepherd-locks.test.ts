/**
 * The shepherd's long-held sessions (its run and ticker advisory locks) terminated mid-run, as a
 * failover or a Postgres restart does, and two replicas asked for runs at once. The loader and the
 * estimator are stood in by small HTTP peers on real sockets whose training job never finishes,
 * so the run is surely waiting, with both locks held, when the fault strikes.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { timedFetch, waitFor } from './support/faults.ts';
import { freePort } from './support/private-postgres.ts';
import { type RunningService, startService, stopService } from './support/stack.ts';

/** A loader that loads nothing new and an estimator whose jobs stay running forever. */
async function startStandInPeers(): Promise<{ url: string; jobPolls(): number; close(): Promise<void> }> {
  let polls = 0;
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.method === 'POST' && req.url === '/load') {
      req.resume();
      return res.end(JSON.stringify({ inserted: 0, updated: 0, fetched: 0, last_date: null }));
    }
    if (req.method === 'POST' && req.url === '/train') {
      req.resume();
      res.statusCode = 202;
      return res.end(JSON.stringify({ job_id: '00000000-0000-4000-8000-000000000001', status: 'queued' }));
    }
    if (req.url?.startsWith('/jobs/')) {
      polls++;
      return res.end(JSON.stringify({ status: 'running' }));
    }
    res.statusCode = 404;
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    jobPolls: () => polls,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

async function lockSessions(db: TestDatabase): Promise<number[]> {
  const { rows } = await db.pool.query(
    `SELECT DISTINCT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND a.datname = current_database() AND a.application_name = 'shepherd'`,
  );
  return rows.map((r) => r.pid);
}

describe('shepherd sessions terminated mid-run; replicas racing', () => {
  let db: TestDatabase;
  let peers: Awaited<ReturnType<typeof startStandInPeers>>;
  const services: RunningService[] = [];
  let env: Record<string, string>;

  before(async () => {
    db = await createTestDatabase('stocks_faults_locks');
    peers = await startStandInPeers();
    env = {
      DATABASE_URL: db.url, LOG_LEVEL: 'warn', WATCHLIST: 'AAPL,MSFT', LOAD_DATA_URL: peers.url, ESTIMATOR_URL: peers.url,
      JOB_POLL_INTERVAL_MS: '100', SHEPHERD_RUN_ON_START: 'false', RATE_LIMIT_PER_MINUTE: '0',
    };
  });
  after(async () => {
    for (const s of services.reverse()) await stopService(s);
    await peers.close();
    await db.drop();
  });

  test('two replicas asked at once answer the one running run; terminating its lock sessions fails the run, not the process', async () => {
    const a = await startService('shepherd', await freePort(), env);
    services.push(a);
    const b = await startService('shepherd', await freePort(), env);
    services.push(b);

    const answers = await Promise.all([a, b, a, b].map((s) => timedFetch(`${s.url}/run`, { method: 'POST' })));
    for (const r of answers) assert.equal(r.status, 202, JSON.stringify(r.body));
    const ids = new Set(answers.map((r) => r.body.run_id));
    assert.equal(ids.size, 1, `one run, every caller told its id: ${JSON.stringify(answers.map((r) => r.body))}`);
    assert.equal(answers.filter((r) => r.body.started).length, 1, 'exactly one call started it');
    const runId = [...ids][0];
    const running = (await db.pool.query(`SELECT count(*)::int AS n FROM shepherd_runs WHERE status = 'running'`)).rows[0].n;
    assert.equal(running, 1);

    // AAPL's and MSFT's steps wait on jobs that never end: the run lock and both tickers' locks are held.
    await waitFor('both tickers loaded, the shepherd waiting on their training jobs', async () => {
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM shepherd_steps WHERE step = 'load' AND status = 'succeeded'`);
      return rows[0].n === 2 && peers.jobPolls() > 2;
    }, { timeoutMs: 15_000 });
    const pids = await waitFor('the run and both ticker locks to be held', async () => {
      const p = await lockSessions(db);
      return p.length >= 3 ? p : undefined;
    }, { timeoutMs: 15_000 });
    await db.pool.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid', [pids]);

    const run = await waitFor('the run to be closed', async () => {
      const r = (await timedFetch(`${a.url}/runs/${runId}`)).body;
      return r.status !== 'running' ? r : undefined;
    }, { timeoutMs: 15_000, describe: () => a.output().slice(-2000) + b.output().slice(-2000) });
    assert.equal(run.status, 'failed', JSON.stringify(run));
    assert.match(run.error, /lost the database connection/);
    // Both tickers went at once (SHEPHERD_CONCURRENCY lanes), each waiting on its never-ending job:
    // losing the run's lock stops every lane, and each waiting step is marked failed.
    const steps = (ticker: string) => run.steps.filter((s: { ticker: string }) => s.ticker === ticker).map((s: { step: string; status: string }) => [s.step, s.status]);
    assert.deepEqual(steps('AAPL'), [['load', 'succeeded'], ['train', 'failed']], 'the step that was waiting is marked failed');
    assert.deepEqual(steps('MSFT'), [['load', 'succeeded'], ['train', 'failed']], 'the other lane stopped too');
    // Each says why; the lane that noticed first names the lost connection (another lane can see
    // the driver's own "Connection terminated" when its query raced the termination).
    const failedSteps = run.steps.filter((s: { status: string }) => s.status === 'failed');
    assert.ok(failedSteps.every((s: { error: string | null }) => s.error && s.error.length > 10), JSON.stringify(run.steps));
    assert.ok(failedSteps.some((s: { error: string }) => /lost the database connection/.test(s.error)), JSON.stringify(run.steps));

    await new Promise((r) => setTimeout(r, 500));
    assert.equal(a.process.exitCode, null, `replica a is alive:\n${a.output().slice(-2000)}`);
    assert.equal(b.process.exitCode, null, 'replica b is alive');
    // And goes on: the next request starts a new run.
    const post = (tickers: string[]) => timedFetch(`${b.url}/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tickers }) });
    const oversized = await post(Array(10_000).fill('AAPL'));
    assert.equal(oversized.status, 400, 'an oversized ticker list is refused');
    assert.match(oversized.body.message, /500/);
    const next = await post(Array(500).fill('msft'));
    assert.equal(next.status, 202, JSON.stringify(next.body));
    assert.notEqual(next.body.run_id, runId);
    assert.deepEqual(next.body.tickers, ['MSFT'], 'repeats run once');
  });
});
