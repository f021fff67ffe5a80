// The compiled forward pass against TF.js, the micro-batcher, and tensor leaks of both paths.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { readMarketData } from '../../test/support/market-data.ts';
import type { DailyBar } from '@stocks/common';
import { MicroBatcher } from '../src/serving/batcher.ts';
import { CompiledLstm, compileModel, TfjsPredictor, verifyCompiled } from '../src/model/compiled.ts';
import { mulberry32 } from '../src/model/random.ts';
import { resolveModelConfig, type ModelConfig } from '../src/model/config.ts';
import { buildDataset, requiredHistory } from '../src/model/dataset.ts';
import { closesOf } from '../src/model/features.ts';
import { encodeLastWindows, forecastBatch } from '../src/model/forecast.ts';
import { initBackend } from '../src/training/backend.ts';
import { buildModel, deserializeModel, disposeModel } from '../src/model/lstm.ts';
import { SimdLstm } from '../src/model/simd.ts';
import { trainModel } from '../src/model/train.ts';
import { StandardScaler } from '../src/model/scaler.ts';

let aapl: DailyBar[];
before(async () => {
  await initBackend();
  aapl = await readMarketData('AAPL', 700);
});

function compiled(model: tf.LayersModel, window: number): CompiledLstm {
  const c = compileModel(model, window);
  assert.ok(c instanceof CompiledLstm, 'unsupported' in c ? c.unsupported : 'not compiled');
  return c;
}

/** Encoded windows ending on each of the last `n` days of `bars`. */
function realWindows(bars: readonly DailyBar[], config: ModelConfig, scaler: StandardScaler, n: number): Float32Array {
  const closes = closesOf(bars);
  const needed = requiredHistory(config);
  const histories = Array.from({ length: n }, (_, i) => closes.slice(closes.length - needed - i, closes.length - i));
  return encodeLastWindows(histories, config, scaler);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('compiled forward pass = TF.js predict (max abs diff <= 1e-5)', () => {
  const cases: Array<[string, Partial<ModelConfig>]> = [
    ['small (window 20, 8 units, horizon 10)', { window: 20, units: 8, horizon: 10 }],
    ['default (window 60, 32 units, horizon 30)', {}],
    ['with dropout and 50 units', { units: 50, dropout: 0.2 }],
  ];
  for (const [name, overrides] of cases) {
    test(`untrained ${name}: random and real windows`, () => {
      const config = resolveModelConfig(overrides);
      const model = buildModel(config, 4);
      try {
        const c = compiled(model, config.window);
        const scaler = buildDataset(aapl, config).scaler;
        const real = realWindows(aapl, config, scaler, 32);
        const check = verifyCompiled(c, model, real, { random: 32 });
        assert.ok(check.ok, `max abs diff ${check.maxAbsDiff}`);
        assert.equal(check.windows, 64);
        assert.ok(check.maxAbsDiff <= 1e-5);
        // The WebAssembly SIMD kernel: needs 4·units to be a multiple of 16 (8 and 32 units; not 50).
        const simd = SimdLstm.create(c.weights());
        if (config.units % 4 !== 0) return assert.equal(simd, undefined);
        assert.ok(simd, 'wasm SIMD is available on Node 20+');
        const simdCheck = verifyCompiled(simd, model, real, { random: 32 });
        assert.ok(simdCheck.ok, `simd max abs diff ${simdCheck.maxAbsDiff}`);
      } finally {
        disposeModel(model);
      }
    });
  }

  test('trained model (after a round trip through the artifact format), real windows', async () => {
    const result = await trainModel({ ticker: 'AAPL', bars: aapl, config: { window: 20, units: 8, epochs: 2, horizon: 10 } });
    const model = await deserializeModel(result.artifact);
    try {
      const scaler = StandardScaler.fromJSON(result.scaler);
      const c = compiled(model, result.config.window);
      const x = realWindows(aapl, result.config, scaler, 200);
      const reference = new TfjsPredictor(model, result.config.window).predictScaled(x, 200);
      const diff = maxAbsDiff(c.predictScaled(x, 200), reference);
      assert.ok(diff <= 1e-5, `max abs diff ${diff}`);
      // Groups of four and the single-window remainder give the same outputs as TF.js.
      const seven = x.subarray(0, 7 * result.config.window * 4);
      assert.ok(maxAbsDiff(c.predictScaled(seven, 7), reference.subarray(0, 7 * 10)) <= 1e-5);
      assert.ok(maxAbsDiff(c.predictScaled(x.subarray(0, result.config.window * 4), 1), reference.subarray(0, 10)) <= 1e-5);
      // SIMD: more windows than one 64-window chunk, and a lone one.
      const simd = SimdLstm.create(c.weights())!;
      assert.ok(maxAbsDiff(simd.predictScaled(x, 200), reference) <= 1e-5);
      assert.ok(maxAbsDiff(simd.predictScaled(x.subarray(0, result.config.window * 4), 1), reference.subarray(0, 10)) <= 1e-5);
      // And the served prices agree: same maths after the network, whichever engine ran it.
      const histories = [aapl.slice(0, 300), aapl.slice(0, 500), aapl];
      const viaTfjs = forecastBatch(model, scaler, result.config, result.alpha, histories, 10);
      const viaCompiled = forecastBatch(c, scaler, result.config, result.alpha, histories, 10);
      for (let h = 0; h < histories.length; h++) {
        for (let k = 0; k < 10; k++) assert.ok(Math.abs(viaTfjs[h]![k]! / viaCompiled[h]![k]! - 1) < 1e-6);
      }
    } finally {
      disposeModel(model);
    }
  });

  test('sigmoid recurrent activation and a tanh head are read from the config', () => {
    const model = tf.sequential();
    model.add(tf.layers.lstm({ units: 6, inputShape: [12, 4], recurrentActivation: 'sigmoid', unitForgetBias: true }));
    model.add(tf.layers.dense({ units: 3, activation: 'tanh' }));
    try {
      const check = verifyCompiled(compiled(model, 12), model, undefined, { random: 32 });
      assert.ok(check.ok, `max abs diff ${check.maxAbsDiff}`);
    } finally {
      model.dispose();
    }
  });

  test('an architecture it does not know is not compiled (the caller keeps TF.js)', () => {
    const model = tf.sequential();
    model.add(tf.layers.gru({ units: 4, inputShape: [10, 4] }));
    model.add(tf.layers.dense({ units: 2 }));
    try {
      const c = compileModel(model, 10);
      assert.ok('unsupported' in c);
      assert.match(c.unsupported, /GRU/);
    } finally {
      model.dispose();
    }
  });

  test('a compiled pass that disagrees fails the check', () => {
    const config = resolveModelConfig({ window: 20, units: 8, horizon: 10 });
    const a = buildModel(config, 4);
    const b = buildModel({ ...config, seed: 7 }, 4);
    try {
      const check = verifyCompiled(compiled(b, config.window), a, undefined);
      assert.equal(check.ok, false);
      assert.ok(check.maxAbsDiff > 1e-5);
    } finally {
      disposeModel(a);
      disposeModel(b);
    }
  });
});

test('no tensor leak: 10,000 predictions on each path keep tf.memory().numTensors flat', () => {
  const config = resolveModelConfig({ window: 20, units: 8, horizon: 10 });
  const model = buildModel(config, 4);
  try {
    const scaler = buildDataset(aapl, config).scaler;
    const c = compiled(model, config.window);
    const histories = Array.from({ length: 100 }, (_, i) => aapl.slice(0, 400 + i));
    forecastBatch(model, scaler, config, 0.5, histories.slice(0, 2), 5); // warm-up allocations
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) forecastBatch(model, scaler, config, 0.5, histories, 5); // TF.js: 100 x 100
    assert.equal(tf.memory().numTensors, before);
    const rand = mulberry32(3);
    const x = new Float32Array(config.window * 4);
    const simd = SimdLstm.create(c.weights())!;
    for (let i = 0; i < 10_000; i++) {
      x[i % x.length] = rand();
      c.predictScaled(x, 1);
      simd.predictScaled(x, 1);
    }
    assert.equal(tf.memory().numTensors, before);
  } finally {
    disposeModel(model);
  }
});

describe('MicroBatcher', () => {
  test('concurrent submissions run as few batches, results in order, one failure stays local', async () => {
    const sizes: number[] = [];
    const batcher = new MicroBatcher<number, number>((items) => items.map((n) => (n === 13 ? new Error('thirteen') : n * 2)), {
      maxBatch: 16,
      onBatch: (s) => sizes.push(s),
    });
    const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => batcher.submit(i)));
    results.forEach((r, i) => {
      if (i === 13) assert.equal(r.status, 'rejected');
      else assert.deepEqual(r, { status: 'fulfilled', value: i * 2 });
    });
    assert.deepEqual(sizes, [16, 16, 8]);
  });

  test('a lone request is not held back by a timer', async () => {
    const batcher = new MicroBatcher<number, number>((items) => items, { maxWaitMs: 1_000 });
    const started = performance.now();
    assert.equal(await batcher.submit(1), 1);
    assert.ok(performance.now() - started < 50);
  });

  test('while an async batch runs, new items wait (at most maxWaitMs) and then go together', async () => {
    const sizes: number[] = [];
    const batcher = new MicroBatcher<number, number>(async (items) => {
      await new Promise((r) => setTimeout(r, 20));
      return items;
    }, { maxWaitMs: 5, onBatch: (s) => sizes.push(s) });
    const first = batcher.submit(0);
    await new Promise((r) => setImmediate(r)); // first batch is now in flight
    const rest = Array.from({ length: 5 }, (_, i) => batcher.submit(i + 1));
    assert.deepEqual(await Promise.all([first, ...rest]), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(sizes, [1, 5]);
  });

  test('a runner that throws rejects its whole batch', async () => {
    const batcher = new MicroBatcher<number, number>(() => {
      throw new Error('boom');
    });
    await assert.rejects(Promise.all([batcher.submit(1), batcher.submit(2)]), /boom/);
  });
});
