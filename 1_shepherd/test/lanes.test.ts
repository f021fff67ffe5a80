/**
 * A run works on SHEPHERD_CONCURRENCY tickers at once, and a slow, failing ticker holds up only
 * its own lane. The loader and estimator are stood in by a small HTTP server on a real socket
 * (trainings finish at once) so the timing is the shepherd's alone.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { buildApp } from '../src/app.ts';
import { loadShepherdEnv } from '../src/config.ts';
import { waitForRun } from './support/runs.ts';

const TICKERS = ['SLOW', 'A1', 'A2', 'A3', 'A4', 'A5', 'A6', 'A7'];
let db: TestDatabase;
let server: http.Server;
let url: string;
let loading = 0;
let peakLoading = 0;

before(async () => {
  db = await createTestDatabase('stocks_shepherd_lanes');
  let jobs = 0;
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.method === 'POST' && req.url === '/load') {
        const { ticker } = JSON.parse(body);
        loading++;
        peakLoading = Math.max(peakLoading, loading);
        // SLOW: Yahoo keeps failing until the loader's retries run out, then 502.
        setTimeout(() => {
          loading--;
          if (ticker === 'SLOW') {
            res.statusCode = 502;
            return res.end(JSON.stringify({ statusCode: 502, error: 'Bad Gateway', message: 'Yahoo Finance answered 500 Internal Server Error after 4 attempts' }));
          }
          res.end(JSON.stringify({ ticker, source: 'yahoo', fetched: 1, inserted: 1, updated: 0, rejected: {}, first_date: null, last_date: null }));
        }, ticker === 'SLOW' ? 1500 : 100);
        return;
      }
      if (req.method === 'POST' && req.url === '/train') {
        res.statusCode = 202;
        return res.end(JSON.stringify({ job_id: `00000000-0000-4000-8000-${String(++jobs).padStart(12, '0')}`, status: 'queued' }));
      }
      if (req.url?.startsWith('/jobs/')) return res.end(JSON.stringify({ status: 'succeeded', model_version: 1 }));
      if (req.method === 'POST' && req.url === '/fine-tune') {
        res.statusCode = 202;
        return res.end(JSON.stringify({ job_id: `00000000-0000-4000-8000-${String(++jobs).padStart(12, '0')}`, status: 'queued' }));
      }
      // Every champion's returns drifted: monitoring advises a full retraining for each.
      if (req.url?.startsWith('/monitoring')) {
        return res.end(JSON.stringify({
          retrain: { full_retrain_advised: true, reasons: ['drift: daily returns of the last 60 days differ from the training window\'s'] },
          drift: { detected: true, p_value: 0.001, threshold: 0.01 }, champion_live: null,
        }));
      }
      res.statusCode = 404;
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await db.drop();
});

test('SHEPHERD_CONCURRENCY tickers at once; a slow failing ticker holds up only its lane', async () => {
  const app = await buildApp({
    env: loadShepherdEnv({
      DATABASE_URL: db.url, WATCHLIST: TICKERS.join(','), LOAD_DATA_URL: url, ESTIMATOR_URL: url,
      JOB_POLL_INTERVAL_MS: '50', SHEPHERD_CONCURRENCY: '3',
    }),
    pool: db.pool,
    logger: false,
  });
  try {
    const started = Date.now();
    const res = await app.inject({ method: 'POST', url: '/run' });
    assert.equal(res.statusCode, 202);
    const run = await waitForRun(app, res.json().run_id, { attempts: 200, intervalMs: 50 });
    assert.equal(run.status, 'partial', JSON.stringify(run));
    assert.equal(run.error, `1 of ${TICKERS.length} tickers failed`);
    assert.equal(peakLoading, 3, 'three loads at a time, never more');
    const slow = run.steps.find((s: any) => s.ticker === 'SLOW');
    assert.deepEqual([slow.step, slow.status], ['load', 'failed']);
    assert.match(slow.error, /502|Yahoo/);
    for (const t of TICKERS.slice(1)) {
      const steps = run.steps.filter((s: any) => s.ticker === t).map((s: any) => `${s.step}:${s.status}`);
      assert.deepEqual(steps, ['load:succeeded', 'train:succeeded'], t);
    }
    // The seven others went through the two other lanes while SLOW's load was still failing.
    const othersDone = Math.max(...run.steps.filter((s: any) => s.ticker !== 'SLOW').map((s: any) => Date.parse(s.finished_at)));
    assert.ok(othersDone < Date.parse(slow.finished_at), 'every other ticker finished before the slow one failed');
    assert.ok(Date.now() - started < 1500 + 3 * 1000, 'the run took about as long as its slowest ticker');
  } finally {
    await app.close();
  }
});

test('SHEPHERD_MAX_RETRAINS_PER_RUN: past the budget, drifting champions are fine-tuned and their retraining deferred', async () => {
  const tickers = ['D1', 'D2', 'D3', 'D4', 'D5'];
  for (const ticker of tickers) {
    await db.pool.query(
      `INSERT INTO models (ticker, kind, status, is_champion, topology, weight_specs, weights, scaler, config, metrics, baseline, train_start, train_end)
       VALUES ($1, 'train', 'champion', true, '{}', '[]', '\\x00', '{}', '{}', '{}', '{}', '2020-01-02', '2023-12-29')`, [ticker]);
  }
  const app = await buildApp({
    env: loadShepherdEnv({
      DATABASE_URL: db.url, WATCHLIST: tickers.join(','), LOAD_DATA_URL: url, ESTIMATOR_URL: url,
      JOB_POLL_INTERVAL_MS: '50', SHEPHERD_CONCURRENCY: '3', SHEPHERD_MAX_RETRAINS_PER_RUN: '2',
    }),
    pool: db.pool,
    logger: false,
  });
  try {
    const res = await app.inject({ method: 'POST', url: '/run' });
    const run = await waitForRun(app, res.json().run_id, { attempts: 200, intervalMs: 50 });
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    const trainings = run.steps.filter((s: any) => s.step === 'train' || s.step === 'fine-tune');
    assert.equal(trainings.length, tickers.length, 'every ticker refreshed');
    const full = trainings.filter((s: any) => s.step === 'train');
    assert.equal(full.length, 2, 'two full retrainings, as budgeted');
    for (const s of full) assert.match(s.detail.reason, /^full retrain instead of a fine-tune: drift/);
    const deferred = trainings.filter((s: any) => s.step === 'fine-tune');
    assert.equal(deferred.length, 3);
    for (const s of deferred) {
      assert.match(s.detail.reason, /full retraining deferred: this run's 2 \(SHEPHERD_MAX_RETRAINS_PER_RUN\) are taken; advised because drift/);
      assert.equal(s.detail.monitoring.drift_detected, true);
    }
  } finally {
    await app.close();
  }
});
