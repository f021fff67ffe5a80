import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { startYahooReplay, type YahooReplay } from '../2_load_data/test/support/yahoo-replay.ts';
import { HISTORY_SINCE_2021, SMALL_MODEL, timedFetch, waitFor } from './support/faults.ts';
import { MARKET_DATA_DIR } from './support/market-data.ts';
import { freePort } from './support/private-postgres.ts';
import { type RunningService, startService, stopService } from './support/stack.ts';

/** The three services as processes; the shepherd does not run at start unless asked. */
async function startStack(db: TestDatabase, loaderEnv: Record<string, string>, estimatorEnv: Record<string, string> = {}) {
  const common = { DATABASE_URL: db.url, LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0' };
  const load_data = await startService('load_data', await freePort(), { ...common, ...loaderEnv });
  const nn_estimator = await startService('nn_estimator', await freePort(), { ...common, ...SMALL_MODEL, ...estimatorEnv });
  const shepherdEnv = {
    ...common, WATCHLIST: 'AAPL,MSFT', LOAD_DATA_URL: load_data.url, ESTIMATOR_URL: nn_estimator.url,
    JOB_POLL_INTERVAL_MS: '150', INITIAL_HISTORY_YEARS: HISTORY_SINCE_2021, SHEPHERD_RUN_ON_START: 'false',
  };
  return { load_data, nn_estimator, shepherdEnv };
}

async function runToEnd(shepherd: RunningService, runId: number, timeoutMs = 90_000) {
  return waitFor(`run ${runId} to finish`, async () => {
    const r = (await timedFetch(`${shepherd.url}/runs/${runId}`)).body;
    return r.status !== 'running' ? r : undefined;
  }, { timeoutMs, intervalMs: 200, describe: () => shepherd.output().slice(-3000) });
}

const steps = (run: any, ticker: string) => run.steps.filter((s: any) => s.ticker === ticker).map((s: any) => [s.step, s.status]);

/** The shepherd's session locks (run and per-ticker; see 3_db/src/locks.ts) held in the test database. */
async function advisoryLocks(db: TestDatabase): Promise<number> {
  const { rows } = await db.pool.query(
    `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
      WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND d.datname = current_database()
        AND l.classid::bigint IN (SELECT (hashtext(s)::bigint + 4294967296) % 4294967296 FROM unnest(ARRAY['shepherd-run', 'shepherd-ticker']) s)`,
  );
  return rows[0].n;
}

describe('Yahoo failing during a shepherd run', () => {
  let db: TestDatabase;
  let yahoo: YahooReplay;
  const services: RunningService[] = [];

  before(async () => {
    db = await createTestDatabase('stocks_faults_yahoo');
    yahoo = await startYahooReplay();
  });
  after(async () => {
    for (const s of services.reverse()) await stopService(s);
    await yahoo.close();
    await db.drop();
  });

  test('the run is partial and names the failing ticker; the next run catches up', async () => {
    const stack = await startStack(db, {
      MARKET_DATA_SOURCE: 'yahoo', YAHOO_BASE_URL: yahoo.url, YAHOO_MAX_RETRIES: '1', YAHOO_TIMEOUT_MS: '3000',
      // The breaker is tested in 2_load_data; here every request must reach the replay.
      YAHOO_BREAKER_MIN_REQUESTS: '1000',
    });
    services.push(stack.load_data, stack.nn_estimator);
    const shepherd = await startService('shepherd', await freePort(), stack.shepherdEnv);
    services.push(shepherd);

    // AAPL's chart requests go through (the missing days, then the backfill of a replay whose
    // newest bar predates today); Yahoo answers 500 to every request for MSFT.
    yahoo.setFault({ kind: 'status', status: 500, symbols: ['MSFT'] });
    const first = await timedFetch(`${shepherd.url}/run`, { method: 'POST' });
    assert.equal(first.status, 202);
    const partial = await runToEnd(shepherd, first.body.run_id);
    assert.equal(partial.status, 'partial', JSON.stringify(partial));
    assert.match(partial.error, /1 of 2 tickers failed/);
    assert.deepEqual(steps(partial, 'AAPL'), [['load', 'succeeded'], ['backfill', 'succeeded'], ['train', 'succeeded']]);
    assert.deepEqual(steps(partial, 'MSFT'), [['load', 'failed']]);
    const failed = partial.steps.find((s: any) => s.ticker === 'MSFT');
    assert.ok(failed.error && failed.error.length > 10, `the failing step says why: ${failed.error}`);
    assert.equal((await db.pool.query(`SELECT count(*)::int AS n FROM prices WHERE ticker = 'MSFT'`)).rows[0].n, 0);

    // Yahoo is back: the next run loads and trains MSFT, and does not retrain AAPL.
    yahoo.setFault(null);
    const second = await timedFetch(`${shepherd.url}/run`, { method: 'POST' });
    const caughtUp = await runToEnd(shepherd, second.body.run_id);
    assert.equal(caughtUp.status, 'succeeded', JSON.stringify(caughtUp));
    assert.deepEqual(steps(caughtUp, 'MSFT'), [['load', 'succeeded'], ['backfill', 'succeeded'], ['train', 'succeeded']]);
    assert.deepEqual(steps(caughtUp, 'AAPL').map((s: string[]) => s[0]), ['load', 'train']);
    assert.equal(steps(caughtUp, 'AAPL')[1][1], 'skipped', 'AAPL has no new bars: no retraining');
    const models = await db.pool.query(`SELECT ticker, count(*)::int AS n FROM models GROUP BY ticker ORDER BY ticker`);
    assert.deepEqual(models.rows, [{ ticker: 'AAPL', n: 1 }, { ticker: 'MSFT', n: 1 }]);
    assert.equal(await advisoryLocks(db), 0, 'no ticker left locked');
  });
});

describe('the shepherd killed mid-run', () => {
  let db: TestDatabase;
  const services: RunningService[] = [];

  before(async () => {
    db = await createTestDatabase('stocks_faults_shepherd');
  });
  after(async () => {
    for (const s of services.reverse()) await stopService(s);
    await db.drop();
  });

  test('the next shepherd closes the abandoned run, finds no ticker locked and resumes cleanly', async () => {
    // A fit slow enough that the shepherd is surely waiting on it when it is killed.
    const stack = await startStack(db, { MARKET_DATA_SOURCE: 'csv', MARKET_DATA_DIR }, { TRAIN_EPOCHS: '30' });
    services.push(stack.load_data, stack.nn_estimator);
    const env = { ...stack.shepherdEnv, SHEPHERD_RUN_ON_START: 'true' };
    const first = await startService('shepherd', await freePort(), env);

    const job = await waitFor('the startup run to queue AAPL\'s training', async () => {
      const { rows } = await db.pool.query(`SELECT id, status FROM training_jobs WHERE ticker = 'AAPL'`);
      return rows[0];
    }, { timeoutMs: 60_000, intervalMs: 50, describe: () => first.output().slice(-3000) });
    assert.ok(await advisoryLocks(db) >= 2, 'the run and AAPL are locked while it works');
    first.process.kill('SIGKILL');
    await new Promise((r) => first.process.once('exit', r));
    const abandoned = (await db.pool.query(`SELECT id, status FROM shepherd_runs`)).rows;
    assert.deepEqual(abandoned.map((r) => r.status), ['running'], 'the dead run still looks alive');
    // The dead process's session (and with it every advisory lock) is gone.
    await waitFor('the killed shepherd\'s locks to go', async () => (await advisoryLocks(db)) === 0, { timeoutMs: 10_000 });

    const second = await startService('shepherd', await freePort(), env);
    services.push(second);
    const closed = (await db.pool.query(`SELECT status, error FROM shepherd_runs WHERE id = $1`, [abandoned[0].id])).rows[0];
    assert.equal(closed.status, 'failed');
    assert.match(closed.error, /abandoned/);

    const resumed = await waitFor('the new startup run to finish', async () => {
      const r = (await timedFetch(`${second.url}/runs`)).body.runs.find((x: any) => x.id !== abandoned[0].id);
      return r && r.status !== 'running' ? r : undefined;
    }, { timeoutMs: 120_000, intervalMs: 250, describe: () => second.output().slice(-3000) });
    assert.equal(resumed.status, 'succeeded', JSON.stringify(resumed));
    assert.ok(resumed.steps.every((s: any) => s.step !== 'lock'), 'no ticker was found locked');
    // MSFT went in another lane of the dead run (SHEPHERD_CONCURRENCY): whatever it had loaded
    // stays, the new run loads what is missing and trains it.
    assert.deepEqual(steps(resumed, 'MSFT').at(-1), ['train', 'succeeded'], JSON.stringify(steps(resumed, 'MSFT')));
    assert.ok(steps(resumed, 'MSFT').every((s: string[]) => s[1] !== 'failed'));
    // AAPL's training, queued by the dead run, went on in the estimator; the new run waited for
    // that same job instead of queueing a second one.
    const aaplJobs = (await db.pool.query(`SELECT id, status FROM training_jobs WHERE ticker = 'AAPL' AND kind = 'train'`)).rows;
    assert.deepEqual(aaplJobs, [{ id: job.id, status: 'succeeded' }]);
    const models = await db.pool.query(`SELECT ticker, count(*)::int AS n FROM models GROUP BY ticker ORDER BY ticker`);
    assert.deepEqual(models.rows, [{ ticker: 'AAPL', n: 1 }, { ticker: 'MSFT', n: 1 }]);
    assert.equal(await advisoryLocks(db), 0, 'no ticker left locked');
  });
});
