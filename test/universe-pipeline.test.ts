/**
 * The universe pipeline, small (bench:universe's pipeline part at 20 tickers, generated from the
 * data a clone has): the loader backfills every ticker from the local Yahoo replay, the shepherd
 * trains them all with 2 estimator worker processes, then one nightly cycle (one new session for
 * every ticker) while one ticker's Yahoo fails on every request and another's is rate limited twice.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runPipeline } from '../bench/support/universe-pipeline.ts';
import { SMALL_MODEL } from './support/faults.ts';
import { loadUniverseSources } from './support/universe-data.ts';

test('20 tickers: backfill, first training, a nightly cycle with 2 workers; nothing lost, the failing ticker reported', { timeout: 600_000 }, async (t) => {
  const lines: string[] = [];
  const f = await runPipeline({
    tickers: 20, trainSample: 20, sources: await loadUniverseSources(), model: { ...SMALL_MODEL },
    lanes: 6, yahooConcurrency: 4, nightlyWorkers: [2], log: (l) => lines.push(l),
  });
  const context = lines.join('\n');
  for (const line of lines) t.diagnostic(line.trim());
  assert.equal(f.backfill.rows, 20 * 2519, `every ticker's history up to the held-back sessions is stored\n${context}`);
  assert.equal(f.training.length, 1);
  assert.equal(f.seeded, 0, 'every champion trained for real');
  const [cycle] = f.cycles;
  assert.ok(cycle);
  assert.equal(cycle.status, 'partial', context);
  assert.deepEqual(cycle.failedTickers, [f.failingTicker], context);
  assert.match(cycle.error ?? '', /^1 of 20 tickers failed/);
  assert.ok(cycle.rateLimitedRequests >= 3, `the rate-limited ticker was retried until it answered: ${cycle.rateLimitedRequests}`);
  assert.deepEqual(cycle.lost, [], `every other ticker has a champion and a forecast from ${cycle.date}\n${context}`);
  assert.equal(cycle.fineTunes + cycle.fullTrainings, 19, `each of the 19 healthy tickers was refreshed\n${context}`);
});
