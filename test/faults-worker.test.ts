import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { prices } from '@stocks/db';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { halfSentPost, SMALL_MODEL, timedFetch, waitFor } from './support/faults.ts';
import { readMarketData } from './support/market-data.ts';
import { freePort } from './support/private-postgres.ts';
import { type RunningService, startService, stopService } from './support/stack.ts';

/**
 * Training workers as separate processes on one queue: a worker killed with SIGKILL in the middle
 * of a fit, and a worker stopped with SIGTERM in the middle of a fit. In both cases another worker
 * process finishes the job exactly once and the model registry never shows the dead attempt.
 *
 * The worker that gets killed trains with many epochs (it must still be fitting when the signal
 * arrives); the one that takes over trains with one epoch (the test stays short).
 */
// Long enough to be interrupted however slow the machine: early stopping would end it in seconds.
const SLOW_FIT = { ...SMALL_MODEL, TRAIN_EPOCHS: '1000', TRAIN_PATIENCE: '1000' };
const workerId = (s: RunningService) => `${hostname()}:${s.process.pid}`;

interface Snapshot {
  versions: Array<{ ticker: string; version: number; job_id: string | null; status: string }>;
  jobs: Array<{ id: string; status: string; attempts: number; worker: string | null; model_version: number | null }>;
}

async function registry(db: TestDatabase): Promise<Snapshot['versions']> {
  const { rows } = await db.pool.query(`SELECT ticker, version, job_id, status, is_champion FROM models ORDER BY ticker, version`);
  return rows;
}

async function jobRow(db: TestDatabase, id: string) {
  const { rows } = await db.pool.query(`SELECT id, status, attempts, worker, model_version, error FROM training_jobs WHERE id = $1`, [id]);
  return rows[0];
}

async function queueRow(db: TestDatabase, id: string) {
  const { rows } = await db.pool.query(`SELECT state, retry_count, retry_limit FROM pgboss.job WHERE id = $1`, [id]);
  return rows[0];
}

/** Watch the registry in the background: a version may only ever appear together with its job's success. */
function watchRegistry(db: TestDatabase, jobId: string) {
  const violations: string[] = [];
  let stop = false;
  const done = (async () => {
    while (!stop) {
      const client = await db.pool.connect();
      try {
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        const versions = await client.query(`SELECT version FROM models WHERE job_id = $1`, [jobId]);
        const job = await client.query(`SELECT status FROM training_jobs WHERE id = $1`, [jobId]);
        await client.query('COMMIT');
        const status = job.rows[0]?.status;
        if (versions.rowCount && status !== 'succeeded') violations.push(`version visible while the job is ${status}`);
        if (versions.rowCount! > 1) violations.push(`${versions.rowCount} versions for one job`);
      } finally {
        client.release();
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return { violations, stop: async () => { stop = true; await done; } };
}

async function submitTrain(api: RunningService, ticker: string): Promise<string> {
  const res = await timedFetch(`${api.url}/train`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ticker }),
  });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.job_id;
}

describe('a training worker killed with SIGKILL mid-fit', () => {
  let db: TestDatabase;
  const services: RunningService[] = [];

  before(async () => {
    db = await createTestDatabase('stocks_faults_kill');
    await prices.upsertPrices(db.pool, 'AAPL', 'csv', await readMarketData('AAPL', 600));
  });
  after(async () => {
    for (const s of services.reverse()) await stopService(s);
    await db.drop();
  });

  test('the job is retried by another worker once its lease expires; the dead attempt leaves nothing', async () => {
    // A short lease and a maintenance every second, so the expiry is seen in seconds.
    const lease = { JOB_TIMEOUT_SECONDS: '10', QUEUE_MAINTENANCE_SECONDS: '1', JOB_RETRY_LIMIT: '2' };
    const common = { DATABASE_URL: db.url, LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0', ...lease };
    const a = await startService('nn_estimator', await freePort(), { ...common, ...SLOW_FIT, ESTIMATOR_ROLE: 'both' });
    services.push(a);
    const jobId = await submitTrain(a, 'AAPL');
    const watch = watchRegistry(db, jobId);

    await waitFor('the job running on worker A', async () => {
      const j = await jobRow(db, jobId);
      return j?.status === 'running' && j.worker === workerId(a);
    }, { timeoutMs: 30_000 });
    const before = await registry(db);
    // Let the fit get going in its thread, then kill the process without warning.
    await new Promise((r) => setTimeout(r, 1_000));
    const killedAt = Date.now();
    a.process.kill('SIGKILL');
    await new Promise((r) => a.process.once('exit', r));
    assert.deepEqual(await registry(db), before, 'the killed attempt changed the registry');
    assert.equal((await jobRow(db, jobId)).status, 'running', 'the row still names the dead worker until the lease runs out');

    const b = await startService('nn_estimator', await freePort(), { ...common, ...SMALL_MODEL, ESTIMATOR_ROLE: 'worker' });
    services.push(b);
    const done = await waitFor('the job to finish on worker B', async () => {
      const j = await jobRow(db, jobId);
      return j && (j.status === 'succeeded' || j.status === 'failed') ? j : undefined;
    }, { timeoutMs: 60_000, describe: () => b.output().slice(-3000) });
    const tookOverAfterMs = Date.now() - killedAt;
    await watch.stop();

    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.equal(done.worker, workerId(b));
    assert.equal(done.attempts, 2, 'one dead attempt, one successful');
    assert.ok(tookOverAfterMs >= 10_000 - 1_500, `retried only after the lease (${tookOverAfterMs} ms)`);
    const versions = await registry(db);
    assert.deepEqual(versions.map((v) => [v.version, v.job_id]), [[done.model_version, jobId]], 'exactly one version, from the successful attempt');
    const q = await queueRow(db, jobId);
    assert.equal(q.state, 'completed');
    assert.equal(q.retry_count, 1, 'pg-boss counted the dead attempt');
    assert.deepEqual(watch.violations, []);
  });
});

describe('a training worker stopped with SIGTERM mid-fit (two worker processes)', () => {
  let db: TestDatabase;
  const services: RunningService[] = [];

  before(async () => {
    db = await createTestDatabase('stocks_faults_term');
    await prices.upsertPrices(db.pool, 'MSFT', 'csv', await readMarketData('MSFT', 600));
  });
  after(async () => {
    for (const s of services.reverse()) await stopService(s);
    await db.drop();
  });

  test('in-flight requests finish and the job is released at once, not after its lease', async () => {
    // A lease far longer than the test: only the release can explain a quick retry.
    const common = { DATABASE_URL: db.url, LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0', JOB_TIMEOUT_SECONDS: '600', JOB_RETRY_LIMIT: '1' };
    const a = await startService('nn_estimator', await freePort(), { ...common, ...SLOW_FIT, ESTIMATOR_ROLE: 'both' });
    services.push(a);
    const jobId = await submitTrain(a, 'MSFT');
    const watch = watchRegistry(db, jobId);
    await waitFor('the job running on worker A', async () => {
      const j = await jobRow(db, jobId);
      return j?.status === 'running' && j.worker === workerId(a);
    }, { timeoutMs: 30_000 });
    const b = await startService('nn_estimator', await freePort(), { ...common, ...SMALL_MODEL, ESTIMATOR_ROLE: 'worker' });
    services.push(b);
    assert.equal((await jobRow(db, jobId)).worker, workerId(a), 'B cannot take an active job');
    const limitBefore = (await queueRow(db, jobId)).retry_limit;

    // A request in flight when the signal arrives: headers and half the body sent.
    const inFlight = await halfSentPost(`${a.url}/train`, { ticker: 'MSFT' });
    const signalledAt = Date.now();
    const exited = new Promise<number | null>((r) => a.process.once('exit', (code) => r(code)));
    a.process.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    const answer = await inFlight.finish();
    assert.equal(answer.status, 202, `the in-flight request was answered: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.job_id, jobId, 'the same job (still active), not a second one');

    const released = await waitFor('the row back to queued', async () => {
      const j = await jobRow(db, jobId);
      return j.status !== 'running' || j.worker !== workerId(a) ? j : undefined;
    }, { timeoutMs: 10_000 });
    const releasedMs = Date.now() - signalledAt;
    assert.ok(['queued', 'running', 'succeeded'].includes(released.status), JSON.stringify(released));
    assert.equal(await exited, 0, `A exits cleanly:\n${a.output().slice(-2000)}`);
    const exitMs = Date.now() - signalledAt;

    const done = await waitFor('the job to finish on worker B', async () => {
      const j = await jobRow(db, jobId);
      return j.status === 'succeeded' || j.status === 'failed' ? j : undefined;
    }, { timeoutMs: 60_000, describe: () => b.output().slice(-3000) });
    const finishedMs = Date.now() - signalledAt;
    await watch.stop();

    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.equal(done.worker, workerId(b));
    assert.equal(done.attempts, 2);
    assert.ok(releasedMs < 5_000, `released in ${releasedMs} ms`);
    assert.ok(exitMs < 15_000, `A exited in ${exitMs} ms`);
    assert.ok(finishedMs < 60_000, `B finished ${finishedMs} ms after the signal, far inside the 600 s lease`);
    const q = await queueRow(db, jobId);
    assert.equal(q.state, 'completed');
    assert.equal(q.retry_limit, limitBefore + 1, 'the interrupted attempt did not spend a retry');
    const versions = await registry(db);
    assert.deepEqual(versions.map((v) => [v.version, v.job_id]), [[done.model_version, jobId]]);
    assert.deepEqual(watch.violations, []);
  });
});
