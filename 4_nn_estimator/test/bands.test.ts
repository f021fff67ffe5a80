// Band models and their scores: interval score, QLIKE, Diebold-Mariano, Nelder-Mead, GARCH(1,1)-t
// maximum likelihood, EWMA, static bands, conformal recalibration, walk-forward without look-ahead.
// Series are simulated from known processes (seeded), so every expectation has a ground truth.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { DailyBar } from '../../common/src/bars.ts';
import { calibrate, ConformalBands, conformalFitter, conformalQuantile, nonconformity } from '../src/model/bands/conformal.ts';
import { centredMoves, stepLosses, walkForwardBands } from '../src/model/bands/evaluate.ts';
import { ewmaFitter, ewmaVariances } from '../src/model/bands/ewma.ts';
import { fitGarchT, garchFitter, garchTLogLikelihood, GarchBands, standardisedTDraws } from '../src/model/bands/garch.ts';
import { nelderMead } from '../src/model/bands/nelder-mead.ts';
import { BAND_PROBABILITIES, bandEdgesOf } from '../src/model/bands/series.ts';
import { quantileSorted } from '../src/model/intervals.ts';
import { coverageHits, coverageOf, coverageTest, dieboldMariano, intervalScore, meanOf, qlike } from '../src/model/bands/scoring.ts';
import { StaticBands } from '../src/model/bands/static.ts';
import type { BandForecast, BandModel, BandModelFitter } from '../src/model/bands/types.ts';
import { mulberry32 } from '../src/model/random.ts';

function barsFromReturns(returns: readonly number[]): DailyBar[] {
  const start = Date.UTC(2000, 0, 3);
  let close = 100;
  const bars: DailyBar[] = [{ date: '2000-01-03', open: null, high: null, low: null, close, adj_close: null, volume: null }];
  returns.forEach((r, i) => {
    close *= Math.exp(r);
    bars.push({ date: new Date(start + (i + 1) * 86_400_000).toISOString().slice(0, 10), open: null, high: null, low: null, close, adj_close: null, volume: null });
  });
  return bars;
}

const TRUE_GARCH = { omega: 0.05, alpha: 0.08, beta: 0.9, nu: 6 };

/** Daily log returns (fractions) of a GARCH(1,1)-t with percent-scale parameters. */
function simulateGarchT(n: number, seed: number, p = TRUE_GARCH): number[] {
  const z = standardisedTDraws(p.nu, n + 500, mulberry32(seed));
  let s2 = p.omega / (1 - p.alpha - p.beta);
  const out: number[] = [];
  for (let i = 0; i < n + 500; i++) {
    const e = Math.sqrt(s2) * z[i]!;
    if (i >= 500) out.push(e / 100);
    s2 = p.omega + p.alpha * e * e + p.beta * s2;
  }
  return out;
}

function normals(n: number, sd: number, seed: number): number[] {
  const random = mulberry32(seed);
  return Array.from({ length: n }, () => sd * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()));
}

test('interval score: width when the actual is inside, plus 2/alpha times the miss outside', () => {
  assert.equal(intervalScore(-1, 1, 0, 80), 2);
  assert.ok(Math.abs(intervalScore(-1, 1, 2, 80) - (2 + 10 * 1)) < 1e-12);
  assert.ok(Math.abs(intervalScore(-1, 1, -1.5, 95) - (2 + 40 * 0.5)) < 1e-12);
  assert.equal(coverageOf([-1, -1, -1, -1], [1, 1, 1, 1], [0, 1, 2, -3]), 0.5);
});

test('interval score is lower for the true quantiles than for bands too narrow or too wide', () => {
  const y = normals(20000, 1, 3);
  const score = (half: number) => meanOf(y.map((v) => intervalScore(-half, half, v, 80)));
  const truth = score(1.2816);
  assert.ok(truth < score(0.8) && truth < score(1.8), `${truth} vs ${score(0.8)} / ${score(1.8)}`);
});

test('QLIKE is minimised in expectation by the true variance', () => {
  const y = normals(20000, 0.02, 5);
  const loss = (v: number) => meanOf(y.map((r) => qlike(v, r)));
  const truth = loss(0.0004);
  assert.ok(truth < loss(0.0002) && truth < loss(0.0008));
  assert.ok(Number.isFinite(qlike(0.0004, 0)) && Number.isFinite(qlike(0, 0.01)));
});

test('Diebold-Mariano: identical losses are no evidence; a clearly better forecast is detected one-sidedly', () => {
  const a = normals(200, 1, 7).map((x) => x * x);
  const same = dieboldMariano(a, a, 1);
  assert.equal(same.p_two_sided, 1);
  const better = a.map((x) => x * 0.6);
  const r = dieboldMariano(better, a, 1);
  assert.ok(r.p_a_better < 0.001 && r.p_a_worse > 0.999, JSON.stringify(r));
  assert.ok(Math.abs(r.p_a_better + r.p_a_worse - 1) < 1e-12);
  assert.ok(Math.abs(r.p_two_sided - 2 * Math.min(r.p_a_better, r.p_a_worse)) < 1e-12);
  // At h = 1 the statistic is the t-ratio of the mean difference times sqrt((n - 1) / n).
  const d = better.map((x, i) => x - a[i]!);
  const m = meanOf(d);
  const v = meanOf(d.map((x) => (x - m) ** 2));
  assert.ok(Math.abs(r.statistic - (m / Math.sqrt(v / d.length)) * Math.sqrt((d.length - 1) / d.length)) < 1e-9);
});

test('Diebold-Mariano holds its size under equal accuracy, with overlapping 5-step losses', () => {
  const random = mulberry32(11);
  let rejections = 0;
  const trials = 300;
  for (let s = 0; s < trials; s++) {
    // MA(4) loss differentials, as from 5-step forecasts at consecutive origins.
    const e = normals(304, 1, Math.floor(random() * 1e9));
    const d = Array.from({ length: 300 }, (_, i) => e[i]! + e[i + 1]! + e[i + 2]! + e[i + 3]! + e[i + 4]!);
    if (dieboldMariano(d, new Array(300).fill(0), 5).p_two_sided < 0.05) rejections++;
  }
  const rate = rejections / trials;
  assert.ok(rate > 0.01 && rate < 0.11, `rejection rate ${rate}`);
});

test('coverage test: the binomial score test at one step; a band that covers every window is rejected, not excused', () => {
  assert.deepEqual(coverageHits([-1, -1, -1], [1, 1, 1], [0, 2, -1]), [1, 0, 1]);
  // 360 of 450 inside is exactly 80%: no evidence against it.
  const exact = Array.from({ length: 450 }, (_, i) => (i % 5 === 0 ? 0 : 1));
  assert.ok(Math.abs(coverageTest(exact, 0.8) - 1) < 1e-9);
  // 335 of 450 (0.7444): z = (0.7444 - 0.8) / sqrt(0.16 / 450) = -2.946, two-sided p = 0.0032.
  const low = Array.from({ length: 450 }, (_, i) => (i < 335 ? 1 : 0));
  assert.ok(Math.abs(coverageTest(low, 0.8) - 0.00322) < 5e-5, String(coverageTest(low, 0.8)));
  assert.ok(coverageTest(new Array(450).fill(1), 0.8) < 1e-6);
  assert.ok(coverageTest(new Array(450).fill(1), 0.8, 5) < 1e-6);
});

test('coverage test holds its size on the overlapping 5-day windows of a calibrated band, where a binomial test does not', () => {
  // The true 80% band of a 5-day sum of i.i.d. t(5) returns, scored at consecutive origins as the bench does.
  const random = mulberry32(17);
  const sums = (draws: Float64Array, n: number) => Array.from({ length: n }, (_, t) => draws[t]! + draws[t + 1]! + draws[t + 2]! + draws[t + 3]! + draws[t + 4]!);
  const reference = sums(standardisedTDraws(5, 200_004, random), 200_000).sort((a, b) => a - b);
  const lower = reference[20_000]!;
  const upper = reference[180_000]!;
  let rejected = 0;
  let rejectedIfIndependent = 0;
  const trials = 400;
  for (let s = 0; s < trials; s++) {
    const hits = sums(standardisedTDraws(5, 454, random), 450).map((x) => (x >= lower && x <= upper ? 1 : 0));
    if (coverageTest(hits, 0.8, 5) < 0.05) rejected++;
    if (coverageTest(hits, 0.8, 1) < 0.05) rejectedIfIndependent++;
  }
  assert.ok(rejected / trials > 0.02 && rejected / trials < 0.1, `rejection rate ${rejected / trials}`);
  assert.ok(rejectedIfIndependent / trials > 0.2, `rejection rate treating windows as independent ${rejectedIfIndependent / trials}`);
});

test('Nelder-Mead finds the Rosenbrock minimum', () => {
  const r = nelderMead(([x, y]) => 100 * (y! - x! * x!) ** 2 + (1 - x!) ** 2, [-1.2, 1], { step: 0.5, maxIterations: 5000, fTolerance: 1e-14, xTolerance: 1e-9 });
  assert.ok(r.converged);
  assert.ok(Math.abs(r.x[0]! - 1) < 1e-4 && Math.abs(r.x[1]! - 1) < 1e-4, JSON.stringify(r));
});

test('GARCH(1,1)-t maximum likelihood recovers the parameters of a long simulated series', () => {
  const returns = simulateGarchT(8000, 21);
  const fit = fitGarchT(returns);
  assert.ok(fit.converged);
  assert.ok(Math.abs(fit.alpha - TRUE_GARCH.alpha) < 0.025, `alpha ${fit.alpha}`);
  assert.ok(Math.abs(fit.beta - TRUE_GARCH.beta) < 0.03, `beta ${fit.beta}`);
  assert.ok(Math.abs(fit.alpha + fit.beta - 0.98) < 0.01, `persistence ${fit.alpha + fit.beta}`);
  assert.ok(Math.abs(fit.nu - TRUE_GARCH.nu) < 1.5, `nu ${fit.nu}`);
  // The optimum beats the truth in sample (it is a maximum), and not by much (it is the right one).
  const e = returns.map((r) => r * 100 - fit.mu);
  const atTruth = garchTLogLikelihood(e, TRUE_GARCH);
  assert.ok(fit.log_likelihood >= atTruth - 1e-9 && fit.log_likelihood - atTruth < 0.002, `${fit.log_likelihood} vs ${atTruth}`);
});

test('GARCH bands: multi-step variance follows the recursion and bands cover at their levels', () => {
  const returns = simulateGarchT(6000, 33);
  const bars = barsFromReturns(returns);
  const model = new GarchBands({ ...TRUE_GARCH, mu: 0, log_likelihood: 0, n: 0, converged: true }, 10);
  const f = model.forecast(bars.slice(0, 4001), 5);
  const next = model.nextVariance(bars.slice(0, 4001));
  const longRun = TRUE_GARCH.omega / (1 - TRUE_GARCH.alpha - TRUE_GARCH.beta);
  let expected = 0;
  for (let j = 0; j < 5; j++) expected += longRun + 0.98 ** j * (next - longRun);
  assert.ok(Math.abs(f.variance[4]! - expected / 1e4) < 1e-12);
  assert.ok(f.variance.every((v, j) => j === 0 || v > f.variance[j - 1]!), 'variance grows with the horizon');
  const origins = Array.from({ length: 1500 }, (_, i) => 4000 + i);
  const forecasts = origins.map((t) => model.forecast(bars.slice(0, t + 1), 1));
  const l = stepLosses(forecasts, centredMoves(bars, origins, 1), 1);
  assert.ok(Math.abs(l.covered80 - 0.8) < 0.035 && Math.abs(l.covered95 - 0.95) < 0.02, `${l.covered80} ${l.covered95}`);
});

test('EWMA: the RiskMetrics recursion, and calibrated bands on a volatility-clustering series', () => {
  const v = ewmaVariances([0.01, -0.02, 0.03], 0.94);
  const s0 = (0.0001 + 0.0004 + 0.0009) / 3;
  assert.ok(Math.abs(v[3]! - (0.94 * (0.94 * (0.94 * s0 + 0.06 * 0.0001) + 0.06 * 0.0004) + 0.06 * 0.0009)) < 1e-15);
  const bars = barsFromReturns(simulateGarchT(5000, 44));
  const model = ewmaFitter(5).fit(bars.slice(0, 3001));
  const origins = Array.from({ length: 1900 }, (_, i) => 3000 + i);
  const l = stepLosses(origins.map((t) => model.forecast(bars.slice(0, t + 1), 5)), centredMoves(bars, origins, 5), 5);
  assert.ok(Math.abs(l.covered80 - 0.8) < 0.05 && Math.abs(l.covered95 - 0.95) < 0.025, `${l.covered80} ${l.covered95}`);
  const f = model.forecast(bars, 5);
  assert.ok(Math.abs(f.variance[4]! / f.variance[0]! - 5) < 1e-9, 'flat EWMA variance: k times the one-day variance');
});

test('static bands are the trailing quantiles of k-day returns: about +-1.96 sigma sqrt(k) on Gaussian returns', () => {
  const bars = barsFromReturns(normals(3000, 0.01, 55));
  const f = new StaticBands().forecast(bars, 5);
  assert.ok(Math.abs(f.upper95[0]! / 0.0196 - 1) < 0.15, `${f.upper95[0]}`);
  assert.ok(Math.abs(f.lower95[4]! / (-0.0196 * Math.sqrt(5)) - 1) < 0.2, `${f.lower95[4]}`);
  assert.ok(f.upper80[0]! < f.upper95[0]! && f.lower95[0]! < f.lower80[0]!);
});

/** Bands of a fixed, wrong width: half the true Gaussian ones for returns of sd 0.01 a day. */
const tooNarrow: BandModel = {
  name: 'model',
  forecast: (_bars, horizon): BandForecast => {
    const sd = (k: number) => 0.005 * Math.sqrt(k);
    const steps = Array.from({ length: horizon }, (_, j) => sd(j + 1));
    return { variance: steps.map((s) => s * s), lower80: steps.map((s) => -1.2816 * s), upper80: steps.map((s) => 1.2816 * s), lower95: steps.map((s) => -1.96 * s), upper95: steps.map((s) => 1.96 * s) };
  },
  toJSON: () => ({}),
};

test('conformal recalibration restores coverage of a miscalibrated model on later data, per step and level', () => {
  const bars = barsFromReturns(normals(9000, 0.01, 68));
  const origins = Array.from({ length: 3000 }, (_, i) => 10 + i);
  const factors = calibrate(tooNarrow, bars, origins, 3);
  assert.ok(factors.scale80.every((s) => Math.abs(s - 2) < 0.2), `scale80 ${factors.scale80}`);
  assert.ok(factors.variance.every((c) => Math.abs(c / 4 - 1) < 0.15), `variance factors ${factors.variance}`);
  const recalibrated = new ConformalBands(tooNarrow, factors);
  const test = Array.from({ length: 5900 }, (_, i) => 3013 + i);
  const actual = centredMoves(bars, test, 3);
  const forecasts = test.map((t) => recalibrated.forecast(bars.slice(0, t + 1), 3));
  for (const step of [1, 3]) {
    const l = stepLosses(forecasts, actual, step);
    assert.ok(Math.abs(l.covered80 - 0.8) < 0.04 && Math.abs(l.covered95 - 0.95) < 0.02, `step ${step}: ${l.covered80} ${l.covered95}`);
  }
  // Past the calibrated horizon the last step's factors apply.
  assert.equal(recalibrated.forecast(bars, 5).upper80.length, 5);
});

test('conformal quantile is the ceil((n+1)p)-th smallest score; nonconformity is the scale that just covers', () => {
  const scores = Array.from({ length: 9 }, (_, i) => i + 1);
  assert.equal(conformalQuantile(scores, 80), 8);
  assert.equal(conformalQuantile(scores, 95), 9);
  assert.equal(nonconformity(-1, 1, 0.5), 0.5);
  assert.equal(nonconformity(-1, 3, -3), 2);
});

test('walk-forward and conformal fits never see a bar after the origin', () => {
  const bars = barsFromReturns(normals(1600, 0.01, 77));
  const seen: string[] = [];
  const origins = Array.from({ length: 40 }, (_, i) => 1500 + i);
  const spy: BandModelFitter = {
    name: 'static',
    fit(trainBars) {
      seen.push(trainBars.at(-1)!.date);
      const inner = new StaticBands();
      return { name: 'static', toJSON: () => ({}), forecast: (b, h) => (seen.push(b.at(-1)!.date), inner.forecast(b, h)) };
    },
  };
  walkForwardBands(bars, conformalFitter(spy, { horizon: 5, windows: 100 }), { origins, horizon: 5, refitEvery: 10 });
  const lastOrigin = bars[origins.at(-1)!]!.date;
  assert.ok(seen.every((d) => d <= lastOrigin));
  // The first fit (at origin 1500) saw nothing after it, its calibration forecasts included.
  const firstOriginDate = bars[1500]!.date;
  assert.ok(seen.slice(0, 102).every((d) => d <= firstOriginDate), 'calibration stays inside the training bars');
});

test('GARCH fitter and EWMA fitter give finite, ordered bands on short histories', () => {
  const bars = barsFromReturns(simulateGarchT(600, 88));
  for (const fitter of [garchFitter(5), ewmaFitter(5)]) {
    const f = fitter.fit(bars).forecast(bars, 5);
    for (let j = 0; j < 5; j++) {
      assert.ok(f.lower95[j]! < f.lower80[j]! && f.lower80[j]! < f.upper80[j]! && f.upper80[j]! < f.upper95[j]!, `${fitter.name} step ${j + 1}`);
      assert.ok(f.variance[j]! > 0 && Number.isFinite(f.variance[j]!));
    }
    assert.doesNotThrow(() => JSON.stringify(fitter.fit(bars).toJSON()));
  }
});

test('save -> load -> the same bands: every baseline, plain and recalibrated, from its JSON', async () => {
  const { baselineFitters, baselineFromJSON } = await import('../src/model/bands/registry.ts');
  const bars = barsFromReturns(simulateGarchT(1400, 99));
  for (const fitter of Object.values(baselineFitters(5))) {
    for (const f of [fitter, conformalFitter(fitter, { horizon: 5, windows: 100 })]) {
      const model = f.fit(bars.slice(0, 1300));
      const restored = baselineFromJSON(JSON.parse(JSON.stringify(model.toJSON())));
      assert.equal(restored.name, model.name);
      assert.deepEqual(restored.forecast(bars, 5), model.forecast(bars, 5), `${fitter.name}`);
    }
  }
  assert.throws(() => baselineFromJSON({ name: 'nope' }), /no baseline band model named nope/);
});

test('band edges by selection are the edges of the fully sorted sample, to the bit (ties, signed zeros, infinities, NaN)', () => {
  const sortedEdges = (values: readonly number[]) => {
    const sorted = Float64Array.from(values).sort();
    return Object.fromEntries(Object.entries(BAND_PROBABILITIES).map(([edge, p]) => [edge, quantileSorted(sorted, p)]));
  };
  const same = (values: number[]) => {
    const expected = sortedEdges(values);
    for (const sample of [[...values], Float64Array.from(values)]) {
      const got = bandEdgesOf(sample) as Record<string, number>;
      for (const [edge, x] of Object.entries(expected)) assert.ok(Object.is(got[edge], x), `${edge}: ${got[edge]} vs ${x} (n ${values.length})`);
    }
  };
  const value = fc.oneof(
    fc.double({ noNaN: true }),
    fc.constantFrom(0, -0, 1, -1, Infinity, -Infinity),
    fc.integer({ min: -3, max: 3 }),
  );
  fc.assert(fc.property(fc.array(value, { minLength: 1, maxLength: 700 }), (values) => same(values)), { numRuns: 300 });
  // The sizes the models use (GARCH: 4,000 paths), heavy-tailed and with many ties.
  const random = mulberry32(5);
  same(Array.from(standardisedTDraws(3, 4000, random)));
  same(Array.from({ length: 4000 }, () => Math.round(random() * 20) - 10));
  same([...Array.from({ length: 999 }, () => random()), Number.NaN]);
});
