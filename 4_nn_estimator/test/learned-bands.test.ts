// The learned scale model: its likelihood, features, fit on a series with known volatility clustering,
// recalibration, save -> load, and the fan's shape.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { DailyBar } from '@stocks/common';
import { initBackend } from '../src/training/backend.ts';
import { widenWithHorizon } from '../src/model/bands/fan.ts';
import { fitLearnedScale, LearnedBands, NotEnoughBarsForBandsError } from '../src/model/bands/learned.ts';
import { gaussianNll, gaussianNllTensor, logGamma, meanGaussianNll, studentTNll } from '../src/model/bands/likelihood.ts';
import { coverageOf, intervalScore, meanOf, qlike } from '../src/model/bands/scoring.ts';
import { dailyVariances, VOLATILITY_WARMUP, volatilityFeatures, N_VOLATILITY_FEATURES } from '../src/model/bands/volatility-features.ts';
import { mulberry32 } from '../src/model/random.ts';

await initBackend();

/** GARCH(1,1) daily returns with Gaussian shocks, as close-only bars (no OHLC: features fall back to r^2). */
function garchBars(n: number, seed: number, params = { omega: 2e-6, alpha: 0.1, beta: 0.88 }): DailyBar[] {
  const random = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  let variance = params.omega / (1 - params.alpha - params.beta);
  let close = 100;
  const start = Date.UTC(2000, 0, 3);
  return Array.from({ length: n }, (_, i) => {
    if (i > 0) {
      const r = Math.sqrt(variance) * normal();
      close *= Math.exp(r);
      variance = params.omega + params.alpha * r * r + params.beta * variance;
    }
    return { date: new Date(start + i * 86_400_000).toISOString().slice(0, 10), open: null, high: null, low: null, close, adj_close: null, volume: null };
  });
}

test('Gaussian NLL matches its closed form, in plain JS and as the training tensor', () => {
  // -log N(0.02; 0, 1e-4) = 0.5 log(2 pi) + 0.5 (log 1e-4 + 4)
  assert.ok(Math.abs(gaussianNll(0.02, 1e-4) - (0.9189385332046727 + 0.5 * (Math.log(1e-4) + 4))) < 1e-12);
  assert.ok(Math.abs(gaussianNll(0, 1) - 0.9189385332046727) < 1e-12);
  const r = [[0.01, -0.02], [0.03, 0]];
  const v = [[1e-4, 2e-4], [4e-4, 1e-4]];
  const expected = meanGaussianNll(r, v);
  const fromTensor = tf.tidy(() => gaussianNllTensor(tf.tensor2d(r.flat().map((x) => x * x), [2, 2]), tf.tensor2d(v.flat(), [2, 2])).dataSync()[0]!);
  assert.ok(Math.abs(fromTensor - expected) < 1e-5, `${fromTensor} vs ${expected}`);
});

test('Student-t NLL: the t(5) density at 0 and the Gaussian limit', () => {
  // Standardised t with 5 dof and variance 5/3 has scale 1: f(0) = Gamma(3) / (Gamma(2.5) sqrt(5 pi)) = 0.3796067
  assert.ok(Math.abs(studentTNll(0, 5 / 3, 5) + Math.log(0.3796066898224944)) < 1e-6);
  assert.ok(Math.abs(logGamma(5) - Math.log(24)) < 1e-6);
  assert.ok(Math.abs(studentTNll(0.015, 1e-4, 1e6) - gaussianNll(0.015, 1e-4)) < 1e-4);
  assert.throws(() => studentTNll(0, 1, 2), RangeError);
});

test('volatility features follow their definitions and never read a later bar', () => {
  const bars: DailyBar[] = garchBars(200, 3).map((b, i) => (i % 2 ? { ...b, open: b.close * 0.999, high: b.close * 1.01, low: b.close * 0.985 } : b));
  const series = dailyVariances(bars);
  // A bar with a usable range: gap^2 + 0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2.
  const b = bars[101]!;
  const gap = Math.log(b.open! / bars[100]!.close);
  const expected = gap * gap + 0.5 * Math.log(b.high! / b.low!) ** 2 - (2 * Math.LN2 - 1) * Math.log(b.close / b.open!) ** 2;
  assert.ok(Math.abs(series.rangeVariances[101]! - expected) < 1e-15);
  // Without a range the day's variance is r^2.
  assert.ok(Math.abs(series.rangeVariances[100]! - series.returns[100]! ** 2) < 1e-18);
  const day = 150;
  const before = volatilityFeatures(series, [day], 1e-4);
  const changed = bars.map((bar, i) => (i > day ? { ...bar, close: bar.close * 3, open: null } : bar));
  const after = volatilityFeatures(dailyVariances(changed), [day], 1e-4);
  assert.deepEqual(Array.from(after), Array.from(before));
  // The 5-day r^2 feature is the log of the mean of the last five squared returns over the reference.
  const r2 = [0, 1, 2, 3, 4].map((j) => series.returns[day - j]! ** 2);
  assert.ok(Math.abs(before[1]! - Math.log(meanOf(r2) / 1e-4)) < 1e-12);
  assert.equal(before.length, N_VOLATILITY_FEATURES);
  assert.throws(() => volatilityFeatures(series, [VOLATILITY_WARMUP - 1], 1e-4), RangeError);
});

const bars = garchBars(1700, 11);
const trainBars = bars.slice(0, 1200);
const fit = fitLearnedScale(trainBars);

test('on a GARCH series the learned variance beats a constant one out of sample, and the bands hold coverage', () => {
  const origins = Array.from({ length: 1700 - 1 - 1200 }, (_, i) => 1199 + i).filter((t) => t + 5 < bars.length);
  const trainReturns = dailyVariances(trainBars).returns.slice(1);
  const constant = meanOf(Array.from(trainReturns, (r) => r * r));
  const learned: number[] = [];
  const flat: number[] = [];
  const lower80: number[] = [];
  const upper80: number[] = [];
  const actual1: number[] = [];
  const isLearned: number[] = [];
  const isConstant: number[] = [];
  for (const t of origins) {
    const f = fit.bands.forecast(bars.slice(0, t + 1), 5);
    const r1 = Math.log(bars[t + 1]!.close / bars[t]!.close);
    learned.push(qlike(f.variance[0]!, r1));
    flat.push(qlike(constant, r1));
    lower80.push(f.lower80[0]!);
    upper80.push(f.upper80[0]!);
    actual1.push(r1);
    const sd = Math.sqrt(constant);
    isLearned.push(intervalScore(f.lower80[0]!, f.upper80[0]!, r1, 80));
    isConstant.push(intervalScore(-1.2816 * sd, 1.2816 * sd, r1, 80));
  }
  assert.ok(meanOf(learned) < meanOf(flat) - 0.05, `QLIKE learned ${meanOf(learned)} vs constant ${meanOf(flat)}`);
  assert.ok(meanOf(isLearned) < meanOf(isConstant), `interval score learned ${meanOf(isLearned)} vs constant ${meanOf(isConstant)}`);
  const coverage = coverageOf(lower80, upper80, actual1);
  assert.ok(Math.abs(coverage - 0.8) < 0.06, `80% coverage ${coverage}`);
});

test('fits choose among candidates on validation only and repeat exactly', () => {
  const { selection } = fit.base.state;
  assert.equal(selection.candidates.length, 3);
  const best = Math.min(...selection.candidates.map((c) => c.validation_nll));
  assert.equal(selection.candidates.find((c) => c.validation_nll === best)!.hidden, selection.chosen.hidden);
  assert.ok(selection.validation_end <= trainBars.at(-1)!.date);
  assert.deepEqual(fitLearnedScale(trainBars).bands.toJSON(), fit.bands.toJSON());
});

test('save -> load gives the same bands', () => {
  const loaded = LearnedBands.fromJSON(JSON.parse(JSON.stringify(fit.bands.toJSON())));
  const history = bars.slice(0, 1500);
  assert.deepEqual(loaded.forecast(history, 30), fit.bands.forecast(history, 30));
  assert.throws(() => LearnedBands.fromJSON({ name: 'model', base: {}, conformal: {} }));
});

test('the fan only widens with the horizon, and a spike reverts instead of being carried for weeks', () => {
  const history = bars.slice(0, 1500);
  const f = fit.bands.forecast(history, 30);
  for (let k = 1; k < 30; k++) {
    assert.ok(f.upper95[k]! - f.lower95[k]! >= f.upper95[k - 1]! - f.lower95[k - 1]!);
    assert.ok(f.variance[k]! >= f.variance[k - 1]!);
  }
  // After a 12% one-day fall the per-day variance of later steps falls back towards normal (the
  // generating GARCH keeps 0.98^29 = 56% of the shock's excess after 29 days).
  const last = history.at(-1)!;
  const shocked = [...history, { ...last, date: '2099-01-01', close: last.close * 0.88 }];
  const v = fit.base.variances(shocked, 30);
  const day1 = v[0]!;
  const day30 = v[29]! - v[28]!;
  assert.ok(day30 < day1 * 0.75, `daily variance ${day1} at step 1, ${day30} at step 30`);
  assert.deepEqual(widenWithHorizon({ variance: [1, 0.5], lower80: [-1, -0.5], upper80: [1, 2], lower95: [-2, -3], upper95: [2, 1] }), {
    variance: [1, 1], lower80: [-1, -1], upper80: [1, 2], lower95: [-2, -3], upper95: [2, 2],
  });
});

test('too short a history gets a clear error', () => {
  assert.throws(() => fitLearnedScale(bars.slice(0, 200)), NotEnoughBarsForBandsError);
  assert.throws(() => fit.bands.forecast(bars.slice(0, 30), 5), /need at least 67 bars/);
});

test('a fit leaves no tensor behind', () => {
  const before = tf.memory().numTensors;
  fitLearnedScale(trainBars.slice(-700));
  assert.equal(tf.memory().numTensors, before);
});

test('band edges: the network standard deviation, at the out-of-sample variance level, times the quantiles of its standardised residuals over the fit, the 80% ones with a conformal factor', () => {
  const q = fit.bands.quantiles!;
  // By hand, through the serving path: z_{t,k} = r_{t,k} / sqrt(v_{t,k}) at every origin of the fit;
  // the shape is scaled to unit mean square, the level is the mean z^2 over the validation windows.
  const last = trainBars.length - 1;
  const firstValidation = trainBars.findIndex((b) => b.date === fit.base.state.selection.validation_start);
  assert.ok(firstValidation > 0);
  for (const k of [1, 5]) {
    const z: number[] = [];
    const validation: number[] = [];
    for (let t = VOLATILITY_WARMUP; t + k <= last; t++) {
      const v = fit.base.variances(trainBars.slice(0, t + 1), k)[k - 1]!;
      z.push(Math.log(trainBars[t + k]!.close / trainBars[t]!.close) / Math.sqrt(v));
      if (t >= firstValidation) validation.push(z.at(-1)!);
    }
    const rms = Math.sqrt(meanOf(z.map((x) => x * x)));
    const level = meanOf(validation.map((x) => x * x));
    z.sort((a, b) => a - b);
    assert.equal(q.n[k - 1], z.length);
    const at = (p: number) => { const pos = p * (z.length - 1); const lo = Math.floor(pos); return z[lo]! + (z[Math.ceil(pos)]! - z[lo]!) * (pos - lo); };
    assert.ok(Math.abs(q.lower95[k - 1]! - at(0.025) / rms) < 1e-9 && Math.abs(q.upper95[k - 1]! - at(0.975) / rms) < 1e-9, `step ${k}`);
    assert.ok(Math.abs(q.level[k - 1]! - level) < 1e-9, `level at step ${k}`);
    // The 80% edges: the shape's, scaled about 0 until they just cover ceil((n + 1) 0.8) validation windows.
    const factor = q.upper80[k - 1]! / (at(0.9) / rms);
    assert.ok(Math.abs(q.lower80[k - 1]! / (at(0.1) / rms) - factor) < 1e-9, `one factor for both 80% edges at step ${k}`);
    const inside = validation.filter((x) => x >= q.lower80[k - 1]! * Math.sqrt(level) - 1e-9 && x <= q.upper80[k - 1]! * Math.sqrt(level) + 1e-9).length;
    assert.equal(inside, Math.min(validation.length, Math.ceil((validation.length + 1) * 0.8)), `80% band covers the conformal count at step ${k}`);
    assert.ok(factor > 0.8 && factor < 1.25, `80% factor ${factor} at step ${k}`);
  }
  const history = bars.slice(0, 1500);
  const f = fit.bands.forecast(history, 1);
  const v = fit.base.variances(history, 1)[0]! * q.level[0]!;
  assert.ok(Math.abs(f.variance[0]! - v) < 1e-15);
  assert.ok(Math.abs(f.upper95[0]! - Math.sqrt(v) * q.upper95[0]!) < 1e-12 && Math.abs(f.lower80[0]! - Math.sqrt(v) * q.lower80[0]!) < 1e-12);
  // Gaussian shocks: the residual quantiles are close to the normal ones, the level close to 1.
  assert.ok(Math.abs(q.upper95[0]! - 1.96) < 0.15 && Math.abs(q.lower80[0]! + 1.28) < 0.1, `${q.lower80[0]} ${q.upper95[0]}`);
  assert.ok(Math.abs(q.level[0]! - 1) < 0.25, `level ${q.level[0]}`);
});

test('the champion/challenger holdout is seen by no choice: early stopping and candidates use the windows before it, and so do its quantiles', () => {
  const holdoutStart = fit.holdout.bars[fit.holdout.origins[0]!]!.date;
  assert.ok(fit.base.state.selection.validation_end < holdoutStart);
  // Closes from the holdout's first target on changed: the comparison bands (before the holdout) do not move.
  const first = fit.holdout.origins[0]!;
  const changed = trainBars.map((b, i) => (i > first ? { ...b, close: b.close * (1 + 0.05 * Math.sin(i)) } : b));
  const before = fit.bandsBeforeHoldout();
  const refit = fitLearnedScale(changed);
  assert.deepEqual(refit.base.state.weights, fit.base.state.weights);
  assert.deepEqual(refit.bandsBeforeHoldout().quantiles, before.quantiles);
  assert.notDeepEqual(refit.bands.quantiles, fit.bands.quantiles);
});

test('learned bands stored before (conformal factors) still load and serve as they did', () => {
  const factors = { scale80: [1.1, 1.05], scale95: [1.2, 1.15], variance: [1.3, 1.2], n: [250, 250] };
  const stored = { name: 'model', base: fit.base.toJSON(), conformal: factors };
  const legacy = LearnedBands.fromJSON(JSON.parse(JSON.stringify(stored)));
  const history = bars.slice(0, 1500);
  const f = legacy.forecast(history, 2);
  const v = fit.base.variances(history, 2);
  assert.ok(Math.abs(f.variance[0]! - 1.3 * v[0]!) < 1e-15);
  assert.ok(Math.abs(f.upper95[0]! - 1.2 * 1.959963984540054 * Math.sqrt(v[0]!)) < 1e-12);
  assert.deepEqual(legacy.toJSON(), stored);
  assert.throws(() => LearnedBands.fromJSON({ ...stored, quantiles: fit.bands.quantiles }), /either residual quantiles or conformal factors/);
});

test('the served variance pools the network with EWMA(0.94) in logs, with the weight of lowest validation NLL', async () => {
  const { EWMA_WEIGHTS, LearnedScaleModel } = await import('../src/model/bands/learned.ts');
  const { ewmaFitter } = await import('../src/model/bands/ewma.ts');
  const { selection, ewmaWeight } = fit.base.state;
  assert.deepEqual(selection.ewma_weights!.map((w) => w.weight), [...EWMA_WEIGHTS]);
  const best = selection.ewma_weights!.reduce((a, b) => (b.validation_nll < a.validation_nll ? b : a));
  assert.equal(ewmaWeight, best.weight);
  const history = bars.slice(0, 1500);
  const withWeight = (w: number) => new LearnedScaleModel({ ...fit.base.state, ewmaWeight: w }).variances(history, 3);
  // All EWMA: the first step is EWMA's one-day variance, and it stays flat (k times it).
  const ewma = (ewmaFitter(5).fit(trainBars) as import('../src/model/bands/ewma.ts').EwmaBands).nextVariance(history);
  const all = withWeight(1);
  assert.ok(Math.abs(all[0]! / ewma - 1) < 1e-6, `${all[0]} vs ${ewma}`);
  assert.ok(Math.abs(all[2]! / (3 * ewma) - 1) < 1e-6);
  // Half and half: the geometric mean of the two daily variances at step 1.
  const net = withWeight(0)[0]!;
  assert.ok(Math.abs(withWeight(0.5)[0]! / Math.sqrt(net * ewma) - 1) < 1e-6);
});

test('champion/challenger: compared on the learned fit\'s holdout only; the learned bands need a significant win over EWMA, else the best baseline serves', async () => {
  const { chooseBands } = await import('../src/model/bands/choice.ts');
  const stored = chooseBands(trainBars, 10);
  const holdout = fit.holdout.origins.filter((t) => t + 5 < trainBars.length);
  assert.equal(stored.validation.start, trainBars[holdout[0]!]!.date);
  assert.equal(stored.validation.n, holdout.length);
  assert.ok(stored.validation.start > fit.base.state.selection.validation_end, 'no choice of the fit saw the comparison windows');
  // EWMA is the reference: the learned bands or another baseline replace it only on a significant win.
  const consistent = (choice: typeof stored) => {
    assert.deepEqual(Object.keys(choice.validation.baselines_vs_ewma!).sort(), ['garch', 'static']);
    if (choice.served === 'model') assert.ok(Object.values(choice.validation.model_vs_ewma!).some((x) => x < 0.05), choice.reason);
    else if (choice.served === 'ewma') assert.match(choice.reason, /no other baseline beat EWMA significantly: serving ewma$/);
    else assert.ok(Object.values(choice.validation.baselines_vs_ewma![choice.served]!).some((x) => x < 0.05), choice.reason);
  };
  consistent(stored);
  // Returns with no volatility clustering: nothing for the network to learn; a baseline is served.
  const flat = chooseBands(garchBars(1200, 5, { omega: 1e-4, alpha: 0, beta: 0 }), 10);
  assert.notEqual(flat.served, 'model', flat.reason);
  consistent(flat);
  // What is stored for serving: the learned bands over every window of the fit, the baselines refitted on every bar.
  assert.deepEqual(stored.models.model, fit.bands.toJSON());
});
