// Pure (tensor-free) parts of the model core: features, dataset split, scaler, baselines, metrics, shrinkage.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readMarketData } from '../../test/support/market-data.ts';
import fc from 'fast-check';
import type { DailyBar } from '@stocks/common';
import { driftForecast, forecastWindows, movingAverageForecast, naiveForecast } from '../src/model/baselines.ts';
import { resolveModelConfig } from '../src/model/config.ts';
import { buildDataset, minimumBarsForTraining, NotEnoughBarsError, requiredHistory } from '../src/model/dataset.ts';
import { computeFeatures, cumulativeLogReturns, FEATURE_WARMUP, mean, N_FEATURES, standardDeviation } from '../src/model/features.ts';
import { evaluate, mae, mape, rmse } from '../src/model/metrics.ts';
import { StandardScaler } from '../src/model/scaler.ts';
import { fitShrinkage } from '../src/model/shrinkage.ts';

function syntheticBars(closes: readonly number[]): DailyBar[] {
  const start = Date.UTC(2020, 0, 1);
  return closes.map((close, i) => ({
    date: new Date(start + i * 86_400_000).toISOString().slice(0, 10),
    open: null,
    high: null,
    low: null,
    close,
    adj_close: null,
    volume: null,
  }));
}

// Real daily AAPL bars (2020-2023, test/fixtures/market-data), parsed by the loader's own CSV parser.
const aapl = await readMarketData('AAPL');
const smallConfig = resolveModelConfig({ window: 20, horizon: 10, units: 8, epochs: 2 });

test('features: one row per day, NaN only during warm-up, finite afterwards', () => {
  const features = computeFeatures(aapl.map((b) => b.close));
  assert.equal(features.values.length, aapl.length * N_FEATURES);
  for (let f = 0; f < N_FEATURES; f++) {
    assert.ok(Number.isNaN(features.values[(FEATURE_WARMUP - 1) * N_FEATURES + f]));
    assert.ok(Number.isFinite(features.values[FEATURE_WARMUP * N_FEATURES + f]));
  }
  assert.ok(Array.from(features.values.subarray(FEATURE_WARMUP * N_FEATURES)).every(Number.isFinite));
});

test('features match their definitions (served models depend on them)', () => {
  const closes = aapl.slice(-300).map((b) => b.close);
  const { values } = computeFeatures(closes);
  const r = (t: number) => Math.log(closes[t]! / closes[t - 1]!);
  for (let t = FEATURE_WARMUP; t < closes.length; t++) {
    const returns5 = [4, 3, 2, 1, 0].map((k) => Math.log(closes[t - k]!) - Math.log(closes[t - k - 1]!));
    const expected = [
      r(t),
      Math.log(closes[t]!) - Math.log(closes[t - 5]!),
      standardDeviation(returns5),
      Math.log(closes[t]! / mean(closes.slice(t - 19, t + 1))),
    ];
    for (let f = 0; f < N_FEATURES; f++) {
      assert.ok(Math.abs(values[t * N_FEATURES + f]! - expected[f]!) <= 1e-12, `day ${t} feature ${f}: ${values[t * N_FEATURES + f]} vs ${expected[f]}`);
    }
  }
});

test('features have no look-ahead: changing a future close leaves earlier rows unchanged', () => {
  const closes = aapl.slice(0, 120).map((b) => b.close);
  const original = computeFeatures(closes).values;
  fc.assert(
    fc.property(fc.integer({ min: 1, max: closes.length - 1 }), fc.double({ min: 0.1, max: 10, noNaN: true }), (day, factor) => {
      const changed = closes.slice();
      changed[day] = (changed[day] ?? 1) * factor;
      const values = computeFeatures(changed).values;
      assert.deepEqual(values.subarray(0, day * N_FEATURES), original.subarray(0, day * N_FEATURES));
    }),
    { numRuns: 50 },
  );
});

test('targets are cumulative log returns from the window end', () => {
  assert.deepEqual(cumulativeLogReturns([10, 11, 12, 13], 1, 2), [Math.log(12 / 11), Math.log(13 / 11)]);
});

test('dataset: shapes, chronological split, and no training target inside the validation period', () => {
  const dataset = buildDataset(aapl, smallConfig);
  const { train, validation } = dataset;
  assert.deepEqual(train.xShape, [train.n, 20, N_FEATURES]);
  assert.deepEqual(train.yShape, [train.n, 10]);
  assert.equal(train.x.length, train.n * 20 * N_FEATURES);
  assert.equal(validation.y.length, validation.n * 10);
  assert.ok(Array.from(train.x).every(Number.isFinite) && Array.from(validation.x).every(Number.isFinite));
  const lastTrainTargetDay = Math.max(...train.endIndices) + smallConfig.horizon;
  assert.ok(lastTrainTargetDay <= Math.min(...validation.endIndices), 'training targets reach into validation');
  assert.equal(validation.endIndices.at(-1), aapl.length - 1 - smallConfig.horizon);
  assert.equal(validation.n, Math.round((train.n + validation.n + smallConfig.horizon - 1) * smallConfig.validationFraction));
  assert.ok(dataset.trainRange.end < dataset.validationRange.start);
  assert.equal(dataset.validationRange.end, aapl.at(-1)?.date);
  const t = validation.endIndices[0] ?? -1;
  assert.equal(validation.lastCloses[0], aapl[t]?.close);
  assert.deepEqual(validation.futureCloses[0], aapl.slice(t + 1, t + 11).map((b) => b.close));
});

test('dataset: too few bars gives a clear error naming the minimum', () => {
  const needed = minimumBarsForTraining(smallConfig);
  assert.ok(needed > requiredHistory(smallConfig) + smallConfig.horizon);
  assert.throws(
    () => buildDataset(aapl.slice(0, needed - 1), smallConfig),
    (err: unknown) => err instanceof NotEnoughBarsError && err.needed === needed && err.got === needed - 1 && err.message.includes(String(needed)),
  );
  assert.doesNotThrow(() => buildDataset(aapl.slice(0, needed), smallConfig));
});

test('scaler is fitted on training windows only and round-trips through JSON', () => {
  const dataset = buildDataset(aapl, smallConfig);
  const firstValidationTarget = aapl.findIndex((b) => b.date === dataset.validationRange.start);
  const perturbed = aapl.map((bar, i) => (i >= firstValidationTarget ? { ...bar, close: bar.close * (1 + 0.3 * Math.sin(i)) } : bar));
  const perturbedDataset = buildDataset(perturbed, smallConfig);
  assert.deepEqual(perturbedDataset.scaler.toJSON(), dataset.scaler.toJSON());
  assert.notDeepEqual(perturbedDataset.validation.y, dataset.validation.y);

  const json = JSON.parse(JSON.stringify(dataset.scaler.toJSON()));
  const restored = StandardScaler.fromJSON(json);
  assert.deepEqual(restored.toJSON(), dataset.scaler.toJSON());
  assert.equal(restored.unscaleTarget(restored.scaleTarget(0.05, 3), 3), 0.05);
  assert.throws(() => StandardScaler.fromJSON({ ...json, featureStd: [1] }));
});

test('naive baseline on 10, 11, 12, ... has MAE exactly 1 at step 1 and k at step k', () => {
  const closes = Array.from({ length: 40 }, (_, i) => 10 + i);
  const endIndices = [20, 21, 22, 23, 24];
  const forecasts = forecastWindows(naiveForecast, closes, endIndices, 5, 3);
  const actuals = endIndices.map((t) => closes.slice(t + 1, t + 4));
  const result = evaluate(forecasts, actuals);
  assert.equal(result.mae, 1);
  assert.equal(result.rmse, 1);
  assert.deepEqual(result.per_step.map((s) => s.mae), [1, 2, 3]);
  assert.equal(result.all_steps.mae, 2);
  const expectedMape = (100 / 5) * [31, 32, 33, 34, 35].reduce((sum, a) => sum + 1 / a, 0);
  assert.ok(Math.abs(result.mape - expectedMape) < 1e-12);
});

test('drift is exact on a straight line; moving average is the window mean', () => {
  const closes = Array.from({ length: 30 }, (_, i) => 10 + 2 * i);
  assert.deepEqual(driftForecast(closes, 9, 5, 3), [30, 32, 34]);
  assert.deepEqual(movingAverageForecast(closes, 9, 5, 2), [24, 24]);
});

test('metrics on a small hand-computed example', () => {
  assert.equal(mae([1, 2, 3], [2, 2, 5]), 1);
  assert.equal(rmse([1, 2, 3], [2, 2, 5]), Math.sqrt(5 / 3));
  assert.equal(mape([110, 90], [100, 100]), 10);
  assert.throws(() => evaluate([], []));
});

test('shrinkage alpha: least squares, clipped to [0, 1]', () => {
  assert.equal(fitShrinkage([[0.02, 0.04]], [[0.01, 0.02]]), 0.5);
  assert.equal(fitShrinkage([[0.01, -0.02]], [[-0.01, 0.02]]), 0, 'anti-correlated -> naive');
  assert.equal(fitShrinkage([[0, 0]], [[0.01, 0.02]]), 0, 'no signal -> naive');
  assert.equal(fitShrinkage([[0.01]], [[0.05]]), 1);
});

test('synthetic bars with null OHLV are accepted (close-only features)', () => {
  const closes = Array.from({ length: 200 }, (_, i) => 100 * Math.exp(0.01 * Math.sin(i / 3) + 0.001 * i));
  const dataset = buildDataset(syntheticBars(closes), smallConfig);
  assert.ok(dataset.train.n > 0 && dataset.validation.n > 0);
  assert.throws(() => buildDataset(syntheticBars([...closes.slice(0, 199), -1]), smallConfig), /non-positive/);
});
