// Tensor parts of the model core: LSTM build/serialise, training, fine-tuning, forecasting, leaks.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import { readMarketData } from '../../test/support/market-data.ts';
import * as tf from '@tensorflow/tfjs';
import { currentBackend, initBackend, isBackendName } from '../src/training/backend.ts';
import { resolveModelConfig, type ModelConfig } from '../src/model/config.ts';
import { requiredHistory } from '../src/model/dataset.ts';
import { forecast, forecastBatch, NotEnoughHistoryError } from '../src/model/forecast.ts';
import { buildModel, deserializeModel, serializeModel, toLayersModelJson } from '../src/model/lstm.ts';
import { trainModel, type TrainResult } from '../src/model/train.ts';

// Real daily AAPL bars (2020-2023, test/fixtures/market-data), parsed by the loader's own CSV parser.
const aapl = await readMarketData('AAPL');
const smallConfig: Partial<ModelConfig> = { window: 20, units: 8, epochs: 2 };
let trained: TrainResult | undefined;

async function trainedOnce(): Promise<TrainResult> {
  trained ??= await trainModel({ ticker: 'AAPL', bars: aapl, config: smallConfig });
  return trained;
}

function predictArray(model: tf.LayersModel, x: tf.Tensor): number[] {
  return tf.tidy(() => Array.from((model.predict(x) as tf.Tensor).dataSync()));
}

before(async () => {
  const env = process.env.TF_BACKEND;
  const backend = await initBackend(isBackendName(env) ? env : undefined);
  assert.equal(currentBackend(), backend);
  assert.equal(await initBackend('cpu'), backend, 'initBackend is idempotent');
});

test('LSTM outputs [batch, horizon]; save -> load gives identical predictions', async () => {
  const config = resolveModelConfig({ window: 12, horizon: 7, units: 4 });
  const model = buildModel(config, 4);
  const x = tf.randomNormal([3, 12, 4], 0, 1, 'float32', 1);
  try {
    assert.deepEqual((model.outputs[0]?.shape ?? []).slice(1), [7]);
    const artifact = await serializeModel(model);
    // Postgres round trip: jsonb for topology/specs, bytea (a Buffer inside a larger pool) for weights.
    const stored = JSON.parse(JSON.stringify({ topology: artifact.topology, weightSpecs: artifact.weightSpecs }));
    const pooled = Buffer.concat([Buffer.alloc(13), Buffer.from(artifact.weights)]).subarray(13);
    const loaded = await deserializeModel({ ...stored, weights: pooled });
    assert.deepEqual(predictArray(loaded, x), predictArray(model, x));
    assert.equal(predictArray(model, x).length, 3 * 7);
    loaded.dispose();

    // Exported as model.json + weights.bin, the files load with tf.loadLayersModel.
    const dir = mkdtempSync(path.join(tmpdir(), 'nn-model-'));
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify(toLayersModelJson(artifact)));
    writeFileSync(path.join(dir, 'weights.bin'), artifact.weights);
    const fromFiles = await tf.loadLayersModel(filesHandler(dir));
    assert.deepEqual(predictArray(fromFiles, x), predictArray(model, x));
    fromFiles.dispose();
    rmSync(dir, { recursive: true });
  } finally {
    model.dispose();
    x.dispose();
  }
});

/** Minimal file:// loader (tfjs-node's is absent here): reads model.json and its weight paths. */
function filesHandler(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
      const group = json.weightsManifest[0];
      assert.ok(group);
      const bin = readFileSync(path.join(dir, group.paths[0] ?? ''));
      return {
        modelTopology: json.modelTopology,
        weightSpecs: group.weights,
        weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer,
      };
    },
  };
}

test('short training on AAPL returns finite metrics beside the baselines, alpha in [0, 1]', async () => {
  const result = await trainedOnce();
  assert.equal(result.mode, 'full');
  assert.ok(result.alpha >= 0 && result.alpha <= 1);
  for (const evaluation of [result.metrics, result.baseline, result.baselines.drift, result.baselines.moving_average]) {
    assert.ok([evaluation.mae, evaluation.rmse, evaluation.mape].every((v) => Number.isFinite(v) && v >= 0));
    assert.equal(evaluation.per_step.length, result.config.horizon);
  }
  assert.deepEqual(result.baseline, result.baselines.naive);
  assert.equal(result.skill, 1 - result.metrics.mae / result.baseline.mae);
  assert.ok(result.epochs_run >= 1 && result.epochs_run <= 2);
  assert.ok(Number.isFinite(result.final_loss) && Number.isFinite(result.final_val_loss));
  assert.ok(result.n_train > 1000 && result.n_val > 250, `${result.n_train} train, ${result.n_val} validation windows`); // 1509 fixture bars
  assert.ok(result.train_range.end < result.validation_range.start);
  assert.equal(result.config.window, 20);
  assert.equal(result.config.horizon, 30);
  assert.ok(result.artifact.weights.byteLength > 0);
});

test('seeded training repeats exactly', async () => {
  const input = { ticker: 'AAPL', bars: aapl.slice(-400), config: { window: 15, horizon: 5, units: 4, epochs: 2 } };
  const first = await trainModel(input);
  const second = await trainModel(input);
  assert.deepEqual(second.artifact.weights, first.artifact.weights);
  assert.equal(second.metrics.mae, first.metrics.mae);
  assert.equal(second.alpha, first.alpha);
});

test('fine-tune keeps champion config and scaler and reports the champion on the same window', async () => {
  const champion = await trainedOnce();
  const result = await trainModel({
    ticker: 'AAPL',
    bars: aapl,
    config: { fineTuneEpochs: 2, window: 99 }, // window is not overridable when fine-tuning
    warmStart: { artifact: champion.artifact, scaler: champion.scaler, config: champion.config, alpha: champion.alpha, trainedThrough: champion.train_range.end },
  });
  assert.equal(result.mode, 'fine_tune');
  assert.equal(result.config.window, champion.config.window);
  assert.deepEqual(result.scaler, champion.scaler);
  assert.ok(result.championMetricsOnSameWindow);
  assert.equal(result.champion_alpha, champion.alpha);
  assert.ok(Number.isFinite(result.championMetricsOnSameWindow.mae) && Number.isFinite(result.metrics.mae));
  assert.equal(result.championMetricsOnSameWindow.per_step.length, champion.config.horizon);
  assert.ok(result.train_range.start > champion.train_range.start, 'fine-tuned on the recent slice');
  assert.ok(result.final_val_loss <= champion.final_val_loss * 10);
  // The reported losses are those of the weights kept, whether an epoch improved or not.
  assert.ok(Number.isFinite(result.final_loss) && result.final_loss > 0, `final_loss ${result.final_loss}`);
  assert.ok(result.best_epoch >= 0 && result.best_epoch <= result.epochs_run);

  // A learning rate too small to move the weights: no epoch beats the start, the champion's own
  // weights are kept (best epoch 0) and their training loss is still reported.
  const frozen = await trainModel({
    ticker: 'AAPL',
    bars: aapl,
    config: { fineTuneEpochs: 2, fineTuneLearningRate: 1e-12 },
    warmStart: { artifact: champion.artifact, scaler: champion.scaler, config: champion.config, alpha: champion.alpha, trainedThrough: champion.train_range.end },
  });
  assert.equal(frozen.best_epoch, 0);
  assert.ok(Number.isFinite(frozen.final_loss) && frozen.final_loss > 0, `final_loss ${frozen.final_loss}`);
});

test('a fine-tune carries the champion\'s band models over unchanged when given them, and is faster for it', async () => {
  const champion = await trainedOnce();
  assert.ok(champion.bands, 'the full training fitted band models');
  const warmStart = { artifact: champion.artifact, scaler: champion.scaler, config: champion.config, alpha: champion.alpha, trainedThrough: champion.train_range.end };
  const refitted = await trainModel({ ticker: 'AAPL', bars: aapl, config: { fineTuneEpochs: 1 }, warmStart });
  const carried = await trainModel({ ticker: 'AAPL', bars: aapl, config: { fineTuneEpochs: 1 }, warmStart: { ...warmStart, bands: champion.bands } });
  assert.deepEqual(carried.bands, champion.bands, 'the same fitted band states, served model and validation figures');
  assert.ok(refitted.bands, 'without them the fine-tune fits band models afresh');
  assert.ok(carried.duration_ms < refitted.duration_ms, `carried ${carried.duration_ms} ms < refitted ${refitted.duration_ms} ms`);
});

test('forecast: horizon closes, finite and positive; batch equals single; errors are typed', async () => {
  const result = await trainedOnce();
  const model = await deserializeModel(result.artifact);
  try {
    const closes = forecast(model, result.scaler, result.config, result.alpha, aapl, 10);
    assert.equal(closes.length, 10);
    assert.ok(closes.every((c) => Number.isFinite(c) && c > 0));
    const batch = forecastBatch(model, result.scaler, result.config, result.alpha, [aapl.slice(0, 500), aapl], 10);
    assert.deepEqual(batch[1], closes);
    assert.deepEqual(batch[0], forecast(model, result.scaler, result.config, result.alpha, aapl.slice(0, 500), 10));
    assert.deepEqual(forecast(model, result.scaler, result.config, 0, aapl, 3), Array(3).fill(aapl.at(-1)?.close), 'alpha 0 is naive');

    const needed = requiredHistory(result.config);
    assert.throws(
      () => forecast(model, result.scaler, result.config, result.alpha, aapl.slice(0, needed - 1), 5),
      (err: unknown) => err instanceof NotEnoughHistoryError && err.needed === needed && err.got === needed - 1,
    );
    assert.doesNotThrow(() => forecast(model, result.scaler, result.config, result.alpha, aapl.slice(0, needed), 5));
    assert.throws(() => forecast(model, result.scaler, result.config, result.alpha, aapl, result.config.horizon + 1), RangeError);
  } finally {
    model.dispose();
  }
});

test('no tensors leak across train + forecast', async () => {
  const before = tf.memory().numTensors;
  const result = await trainModel({ ticker: 'AAPL', bars: aapl.slice(-500), config: { window: 15, horizon: 5, units: 4, epochs: 2 } });
  const warm = await trainModel({
    ticker: 'AAPL',
    bars: aapl.slice(-500),
    config: { fineTuneEpochs: 1 },
    warmStart: { artifact: result.artifact, scaler: result.scaler, config: result.config },
  });
  const model = await deserializeModel(warm.artifact);
  forecast(model, warm.scaler, warm.config, warm.alpha, aapl, 5);
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
});
