/**
 * The estimator's long-held sessions terminated under it (LISTEN, pg-boss, the pool), as a
 * failover does, with the estimator as a real process; and /health/live staying quick while
 * POST /predict is saturated with the largest bodies it accepts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { type DailyBar, nextTradingDays } from '@stocks/common';
import { prices } from '@stocks/db';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { PREDICT_MAX_BARS } from '../4_nn_estimator/src/schemas.ts';
import { SMALL_MODEL, timedFetch, waitFor } from './support/faults.ts';
import { freePort } from './support/private-postgres.ts';
import { type RunningService, startService, stopService } from './support/stack.ts';

function generated(n: number): DailyBar[] {
  const out: DailyBar[] = [];
  let date = '2018-01-02';
  let close = 50;
  for (let i = 0; i < n; i++) {
    close *= 1 + 0.012 * Math.sin(i * 0.37) + 0.004 * Math.cos(i * 1.3);
    out.push({ date, open: close, high: close * 1.01, low: close * 0.99, close, adj_close: close, volume: 10_000 });
    date = nextTradingDays('GEN', date, 1)[0]!;
  }
  return out;
}

async function train(estimator: RunningService, ticker: string): Promise<void> {
  const job = await timedFetch(`${estimator.url}/train`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ticker }) });
  assert.equal(job.status, 202, JSON.stringify(job.body));
  const done = await waitFor(`job ${job.body.job_id}`, async () => {
    const j = (await timedFetch(`${estimator.url}/jobs/${job.body.job_id}`)).body;
    return j.status === 'succeeded' || j.status === 'failed' ? j : undefined;
  }, { timeoutMs: 120_000, intervalMs: 200, describe: () => estimator.output().slice(-3000) });
  assert.equal(done.status, 'succeeded', JSON.stringify(done));
}

describe('estimator sessions terminated; /predict saturated', () => {
  let db: TestDatabase;
  let estimator: RunningService;
  const history = generated(1_100);

  before(async () => {
    db = await createTestDatabase('stocks_faults_estimator');
    await prices.upsertPrices(db.pool, 'GEN', 'csv', history);
    await prices.upsertPrices(db.pool, 'GEN2', 'csv', history);
    estimator = await startService('nn_estimator', await freePort(), {
      DATABASE_URL: db.url, LOG_LEVEL: 'warn', ...SMALL_MODEL, RATE_LIMIT_PER_MINUTE: '0', PREDICT_RATE_LIMIT_PER_MINUTE: '0',
    });
  });
  after(async () => {
    await stopService(estimator);
    await db.drop();
  });

  test('LISTEN, pg-boss and pool sessions terminated: the process stays up, reconnects and trains', async () => {
    await train(estimator, 'GEN');
    const terminated = await db.pool.query<{ n: number }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND application_name IN ('nn_estimator', 'nn_estimator-queue', 'nn_estimator_listener')`,
    );
    assert.ok(terminated.rows[0]!.n >= 2, `the LISTEN and queue sessions were there to terminate (${terminated.rows[0]!.n})`);
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(estimator.process.exitCode, null, `alive:\n${estimator.output().slice(-3000)}`);
    await waitFor('the LISTEN connection to come back', async () => {
      const { rows } = await db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'nn_estimator_listener'`);
      return rows.length > 0;
    }, { timeoutMs: 15_000 });
    assert.equal((await timedFetch(`${estimator.url}/health/ready`)).status, 200);
    await train(estimator, 'GEN2'); // the queue and its worker work again
    assert.equal(estimator.process.exitCode, null);
  });

  // The p99 figure is printed, not asserted: on a shared 2-core machine it measures the neighbours
  // as much as the service (targets live in benches). Asserted: a saturated POST /predict answers
  // or sheds (503 + Retry-After), never fails, and /health/live always answers.
  test('POST /predict saturated with maximal bodies answers or sheds with 503 + Retry-After; /health/live answers', async (t) => {
    const bars = history.slice(-PREDICT_MAX_BARS).map((b) => ({ date: b.date, close: b.close }));
    const body = JSON.stringify({ ticker: 'GEN', horizon: 30, bars });
    // The load comes from another process: measured here, a busy client would time itself.
    const load = spawn(process.execPath, ['-e', `
      const body = process.env.BODY; let stop = false; const counts = {};
      process.on('message', () => { stop = true; });
      const client = async () => { while (!stop) {
        try {
          const r = await fetch(process.env.URL + '/predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          await r.text();
          const k = r.status === 503 && r.headers.get('retry-after') ? 'shed' : String(r.status);
          counts[k] = (counts[k] || 0) + 1;
        } catch (e) { counts.error = (counts.error || 0) + 1; }
      } };
      Promise.all(Array.from({ length: 100 }, client)).then(() => { process.send(counts); process.disconnect(); });
    `], { env: { PATH: process.env.PATH, URL: estimator.url, BODY: body }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise((r) => setTimeout(r, 2_000));
    const latencies: number[] = [];
    for (let i = 0; i < 100; i++) {
      const started = performance.now();
      const r = await fetch(`${estimator.url}/health/live`);
      await r.text();
      latencies.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, 20));
    }
    const counts = await new Promise<Record<string, number>>((resolve) => {
      load.once('message', (m) => resolve(m as Record<string, number>));
      load.send('stop');
    });
    const answered = counts['200'] ?? 0;
    const shed = counts.shed ?? 0;
    const failed = Object.entries(counts).filter(([k]) => k !== '200' && k !== 'shed').map(([k, n]) => `${k}: ${n}`);
    const firstFailure = failed.join(', ');
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.ceil(latencies.length * 0.99) - 1]!;
    assert.equal(failed.length, 0, `every forecast answered, or shed with 503 + Retry-After; first other: ${firstFailure}`);
    assert.ok(answered > 100, `the endpoint was saturated (${answered} forecasts)`);
    t.diagnostic(`/health/live p99 ${p99.toFixed(1)} ms (target < 100 ms) while ${answered} forecasts were answered and ${shed} shed with 503`);
    assert.equal(latencies.length, 100, 'every /health/live answered');
  });
});
