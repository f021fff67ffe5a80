// Issue #4 model side: intervals, the promotion rule, walk-forward backtests without look-ahead, export.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { DailyBar } from '@stocks/common';
import { readMarketData } from '../../test/support/market-data.ts';
import { initBackend, isBackendName } from '../src/training/backend.ts';
import { planOrigins, runBacktest, BacktestRangeError } from '../src/model/backtest.ts';
import { forecast } from '../src/model/forecast.ts';
import { exportModel } from '../src/model/export.ts';
import { fitIntervals, intervalsFor, recentVolatility } from '../src/model/intervals.ts';
import type { Evaluation } from '../src/model/metrics.ts';
import { trainModel, type TrainInput, type TrainResult } from '../src/model/train.ts';
import { promotionDecision } from '../src/training/promotion.ts';
import { coverageTest } from '../src/model/bands/scoring.ts';

const TINY = { window: 10, horizon: 5, units: 4, epochs: 1 };
let aapl: DailyBar[];

before(async () => {
  const env = process.env.TF_BACKEND;
  await initBackend(isBackendName(env) ? env : undefined);
  aapl = await readMarketData('AAPL');
});

/** Deterministic standard normals (Box-Muller on a seeded LCG). */
function normals(n: number, seed = 7): number[] {
  let s = seed;
  const u = () => ((s = (s * 1103515245 + 12345) % 2147483648) + 1) / 2147483649;
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

test('conformal intervals: nested bands around the point, near-nominal coverage on fresh residuals', () => {
  const n = 2000;
  const sigmas = Array.from({ length: n }, (_, i) => 0.01 + 0.01 * (i % 3)); // heteroscedastic
  const z = normals(2 * n);
  const actual = sigmas.map((s, i) => [s * z[i]!, s * Math.SQRT2 * z[n + i]!]);
  const served = sigmas.map(() => [0, 0]);
  const model = fitIntervals(served, actual, sigmas);
  assert.equal(model.q10.length, 2);
  assert.ok(Math.abs(model.q90[0]! - 1.2816) < 0.1, `q90 ${model.q90[0]}`);
  assert.ok(model.q975[1]! > model.q975[0]!, 'step 2 is wider than step 1');

  // Fresh residuals with the same law: coverage close to 80% / 95% at each volatility level.
  const fresh = normals(3000, 99);
  let in80 = 0;
  let in95 = 0;
  for (const [i, e] of fresh.entries()) {
    const sigma = 0.01 + 0.01 * (i % 3);
    // closes whose last 20 daily returns have standard deviation ~sigma
    const closes = [100];
    for (let d = 0; d < 20; d++) closes.push(closes.at(-1)! * Math.exp(d % 2 ? sigma : -sigma));
    const vol = recentVolatility(closes, closes.length - 1);
    assert.ok(Math.abs(vol - sigma) / sigma < 0.05);
    const [band] = intervalsFor(model, closes, [closes.at(-1)!]);
    assert.ok(band!.lower95 <= band!.lower80 && band!.lower80 <= closes.at(-1)! && closes.at(-1)! <= band!.upper80 && band!.upper80 <= band!.upper95);
    const actualClose = closes.at(-1)! * Math.exp(vol * e);
    if (actualClose >= band!.lower80 && actualClose <= band!.upper80) in80++;
    if (actualClose >= band!.lower95 && actualClose <= band!.upper95) in95++;
  }
  assert.ok(Math.abs(in80 / fresh.length - 0.8) < 0.03, `80% coverage ${in80 / fresh.length}`);
  assert.ok(Math.abs(in95 / fresh.length - 0.95) < 0.02, `95% coverage ${in95 / fresh.length}`);
});

function evaluation(maeStep1: number, maeAll: number): Evaluation {
  const e = { mae: maeStep1, rmse: maeStep1, mape: 1 };
  return { ...e, per_step: [{ step: 1, ...e }, { step: 2, ...e }], all_steps: { mae: maeAll, rmse: maeAll, mape: 1 } };
}

test('promotion rule: a fine-tuned challenger with a worse MASE on the same window stays out', () => {
  const base = { baseline: evaluation(2, 4), validation_range: { start: '2024-01-02', end: '2024-06-28' } };
  const worse = promotionDecision({ ...base, metrics: evaluation(1.9, 4.2), championMetricsOnSameWindow: evaluation(2.1, 4.0) }, true);
  assert.equal(worse.promote, false);
  assert.match(worse.reason, /worse than champion on 2024-01-02\.\.2024-06-28, steps 1\.\.2: MASE 1\.0500 > 1\.0000/);
  const equal = promotionDecision({ ...base, metrics: evaluation(2, 4), championMetricsOnSameWindow: evaluation(2, 4) }, true);
  assert.equal(equal.promote, true, 'not worse (equal) is promoted');
  const better = promotionDecision({ ...base, metrics: evaluation(2, 3.8), championMetricsOnSameWindow: evaluation(2, 4) }, true);
  assert.equal(better.promote, true);
  assert.match(better.reason, /MASE 0\.95000 <= 1\.0000/);
  const broken = promotionDecision({ ...base, metrics: evaluation(Number.NaN, Number.NaN), championMetricsOnSameWindow: evaluation(2, 4) }, true);
  assert.equal(broken.promote, false, 'a challenger with non-finite errors never replaces the champion');
  assert.deepEqual(promotionDecision({ ...base, metrics: evaluation(9, 9) }, false), { promote: true, reason: 'full training' });
});

test('backtest serves the bands the version serves: its stored choice, as /predict draws them', async () => {
  const { loadBands } = await import('../src/model/bands/registry.ts');
  const { widenWithHorizon } = await import('../src/model/bands/fan.ts');
  const { priceBands } = await import('../src/model/bands/evaluate.ts');
  const bars = aapl.slice(-900);
  const trained: TrainResult[] = [];
  const keeping = async (input: TrainInput) => {
    const r = await trainModel(input);
    trained.push(r);
    return r;
  };
  const result = await runBacktest({ ticker: 'AAPL', bars, origins: 3, horizon: 5, retrainEvery: 3, config: TINY }, keeping);
  assert.equal(trained.length, 1);
  const loaded = loadBands(trained[0]!.bands)!;
  assert.ok(loaded, 'the version stores its band models');
  assert.equal(result.bands.served, loaded.served);
  for (const o of result.per_origin) {
    const t = bars.findIndex((b) => b.date === o.origin);
    const expected = priceBands(widenWithHorizon(loaded.models[loaded.served]!.forecast(bars.slice(0, t + 1), 5)), o.forecasts.model);
    for (const key of ['lower80', 'upper80', 'lower95', 'upper95'] as const) {
      o.intervals[key].forEach((x, k) => assert.ok(Math.abs(x - expected[key][k]!) < 1e-9, `${key}[${k}] at ${o.origin}`));
    }
  }
});

test('walk-forward origins: the last days whose targets exist; too few bars is a clear error', () => {
  assert.deepEqual(planOrigins(100, 3, 5, 1, 50), [92, 93, 94]);
  assert.deepEqual(planOrigins(100, 3, 5, 10, 50), [74, 84, 94]);
  assert.throws(() => planOrigins(100, 60, 5, 1, 50), (err: unknown) => err instanceof BacktestRangeError && /fewer origins/.test(err.message));
});

test('backtest: every training ends at its origin, future bars cannot change past forecasts, baselines on the same origins', async () => {
  const bars = aapl.slice(-320);
  const seen: string[] = [];
  const recordingTrainer = (input: TrainInput) => {
    seen.push(input.bars.at(-1)!.date);
    return trainModel(input);
  };
  const args = { ticker: 'AAPL', origins: 4, horizon: 3, retrainEvery: 2, config: TINY };
  const result = await runBacktest({ ...args, bars }, recordingTrainer);
  assert.equal(result.n_origins, 4);
  assert.equal(result.retrains, 2);
  assert.deepEqual(seen, [result.per_origin[0]!.origin, result.per_origin[2]!.origin], 'trained on bars up to the origin only');
  assert.equal(result.last_origin, bars.at(-4)!.date, 'the last origin is the last day with 3 targets');
  for (const o of result.per_origin) {
    assert.deepEqual(o.forecasts.naive, [o.last_close, o.last_close, o.last_close]);
    assert.equal(o.actual.length, 3);
    assert.ok(o.intervals.lower95.every((l, k) => l <= o.intervals.lower80[k]! && o.intervals.upper80[k]! <= o.intervals.upper95[k]!));
  }
  assert.equal(result.aggregates.naive.mase, 1);
  assert.equal(result.aggregates.naive.directional_accuracy, null);
  for (const name of ['model', 'drift', 'moving_average'] as const) {
    const a = result.aggregates[name];
    assert.ok([a.mae, a.rmse, a.mape, a.mase].every((v) => Number.isFinite(v) && v! >= 0), name);
    assert.ok(a.directional_accuracy! >= 0 && a.directional_accuracy! <= 1);
  }
  assert.ok(result.coverage['80'] >= 0 && result.coverage['80'] <= result.coverage['95']);
  // Baseline bands around the same point, scored beside the served ones at every step.
  for (const o of result.per_origin) {
    for (const name of ['static', 'ewma', 'garch'] as const) {
      const b = o.baseline_intervals[name]!;
      assert.ok(b.lower95.every((l, k) => l < b.lower80[k]! && b.lower80[k]! < o.forecasts.model[k]! && o.forecasts.model[k]! < b.upper80[k]! && b.upper80[k]! < b.upper95[k]!), name);
    }
  }
  assert.deepEqual(result.bands.per_step.map((s) => s.step), [1, 2, 3]);
  const step1 = result.bands.per_step[0]!;
  const within = (o: (typeof result.per_origin)[number]) => o.actual[0]! >= o.intervals.lower80[0]! && o.actual[0]! <= o.intervals.upper80[0]!;
  assert.equal(step1.models.model!.coverage80, result.per_origin.filter(within).length / 4, 'band coverage agrees with the stored intervals');
  assert.equal(step1.models.model!.coverage80_p, coverageTest(result.per_origin.map((o) => (within(o) ? 1 : 0)), 0.8, 1), 'its calibration test is on the same hits');
  assert.ok(step1.dm.garch && step1.dm.garch.is95.two_sided <= 1);

  // Wreck everything after the first origin: the first origin's model forecast must not move.
  const firstOrigin = bars.findIndex((b) => b.date === result.first_origin);
  const tampered = bars.map((b, i) => (i > firstOrigin ? { ...b, close: b.close * 3 } : b));
  const again = await runBacktest({ ...args, bars: tampered });
  assert.deepEqual(again.per_origin[0]!.forecasts.model, result.per_origin[0]!.forecasts.model);
  assert.deepEqual(again.per_origin[1]!.forecasts.model.length, 3);
});

test('export: the JSON document loads with tf.loadLayersModel and predicts like the served model', async () => {
  const trained: TrainResult = await trainModel({ ticker: 'AAPL', bars: aapl.slice(-400), config: TINY });
  const row = {
    version: 7, ticker: 'AAPL', kind: 'train', status: 'champion', is_champion: true,
    topology: trained.artifact.topology, weight_specs: trained.artifact.weightSpecs, weights: Buffer.from(trained.artifact.weights),
    scaler: trained.scaler, config: trained.config as unknown as Record<string, unknown>, alpha: trained.alpha,
    evaluation: { intervals: trained.intervals }, train_start: trained.train_range.start, train_end: trained.train_range.end,
    validation_start: trained.validation_range.start, validation_end: trained.validation_range.end, backend: trained.backend,
  };
  const doc = JSON.parse(JSON.stringify(exportModel(row)));
  assert.deepEqual(doc.modelJson.weightsManifest[0].paths, ['weights.bin']);
  // The documented lines:
  const weights = Uint8Array.from(Buffer.from(doc.weightsBase64, 'base64')).buffer;
  const model = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: doc.modelJson.modelTopology, weightSpecs: doc.modelJson.weightsManifest[0].weights, weightData: weights,
  }));
  const served = await (await import('../src/model/lstm.ts')).deserializeModel(trained.artifact);
  try {
    const mine = forecast(model, doc.scaler, doc.metadata.config, doc.metadata.alpha, aapl, 5);
    assert.deepEqual(mine, forecast(served, trained.scaler, trained.config, trained.alpha, aapl, 5));
    assert.equal(doc.metadata.intervals.method, 'conformal_vol_scaled');
  } finally {
    model.dispose();
    served.dispose();
  }
});
