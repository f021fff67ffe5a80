// runTrainingInThread: trainModel in a worker thread (which loads .ts via tsx) without blocking this loop.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readMarketData } from '../../test/support/market-data.ts';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/training/backend.ts';
import { forecast } from '../src/model/forecast.ts';
import { deserializeModel } from '../src/model/lstm.ts';
import { prewarmTrainingThread, runTrainingInThread, TrainingThreadError } from '../src/training/runner.ts';

// Real daily AAPL bars (2020-2023, test/fixtures/market-data), parsed by the loader's own CSV parser.
const aapl = await readMarketData('AAPL');

test('prewarmTrainingThread loads the backend in the thread the next training runs on', async () => {
  const backend = await prewarmTrainingThread();
  assert.ok(['tensorflow', 'wasm', 'cpu'].includes(backend), backend);
  const result = await runTrainingInThread({ ticker: 'AAPL', bars: aapl.slice(-300), config: { window: 20, horizon: 5, units: 4, epochs: 1 } });
  assert.equal(result.backend, backend);
});

test('runTrainingInThread trains in a worker and keeps the event loop free', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 20);
  const started = Date.now();
  const result = await runTrainingInThread({ ticker: 'AAPL', bars: aapl.slice(-800), config: { window: 20, horizon: 10, units: 8, epochs: 3 } });
  clearInterval(timer);
  const elapsed = Date.now() - started;
  assert.ok(result.artifact.weights instanceof Uint8Array && result.artifact.weights.byteLength > 0);
  assert.ok(Number.isFinite(result.metrics.mae) && Number.isFinite(result.baseline.mae));
  assert.ok(result.alpha >= 0 && result.alpha <= 1);
  assert.ok(ticks >= Math.floor(elapsed / 20 / 4), `event loop starved: ${ticks} ticks in ${elapsed} ms`);

  await initBackend();
  const model = await deserializeModel(result.artifact);
  const closes = forecast(model, result.scaler, result.config, result.alpha, aapl, 10);
  model.dispose();
  assert.equal(closes.length, 10);
  assert.equal(tf.memory().numTensors, 0);
});

test('runTrainingInThread propagates errors with their message', async () => {
  await assert.rejects(
    runTrainingInThread({ ticker: 'AAPL', bars: aapl.slice(0, 30), config: { window: 20, horizon: 10 } }),
    (err: unknown) => err instanceof TrainingThreadError && err.causeName === 'NotEnoughBarsError' && /need at least \d+, got 30/.test(err.message),
  );
});
