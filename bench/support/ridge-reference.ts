/**
 * A reference forecaster for bench:backtest, not part of the product: ridge regression of the
 * next `horizon` cumulative log returns on the model's close features plus OHLCV ones (day range,
 * where the close sits in it, overnight gap, open-to-close return, volume against its 20-day
 * mean). It answers "is there skill in these inputs that the LSTM misses?" on exactly the
 * backtest's origins, refitted as often, seeing only bars up to each origin.
 */
import type { DailyBar } from '@stocks/common';
import { at, closesOf, computeFeatures, cumulativeLogReturns, FEATURE_WARMUP, mean } from '../../4_nn_estimator/src/model/features.ts';
import { relativeMase } from '../../4_nn_estimator/src/model/metrics.ts';

const VOLUME_DAYS = 20;

/** Feature rows (NaN where undefined); close features first, then OHLCV ones when the bar has them. */
function referenceFeatures(bars: readonly DailyBar[]): number[][] {
  const closes = closesOf(bars);
  const base = computeFeatures(closes);
  const logVolume = bars.map((b) => Math.log(Math.max(1, b.volume ?? 1)));
  return bars.map((b, t) => {
    const row = Array.from(base.values.subarray(t * base.nFeatures, (t + 1) * base.nFeatures));
    const { open, high, low, close } = b;
    const ohlc = open !== null && high !== null && low !== null && open > 0 && low > 0 && t > 0;
    row.push(
      ohlc ? Math.log(high! / low!) : Number.NaN,
      ohlc ? (high! > low! ? (2 * close - high! - low!) / (high! - low!) : 0) : Number.NaN,
      ohlc ? Math.log(open! / at(closes, t - 1)) : Number.NaN,
      ohlc ? Math.log(close / open!) : Number.NaN,
      t >= VOLUME_DAYS - 1 ? at(logVolume, t) - mean(logVolume.slice(t - VOLUME_DAYS + 1, t + 1)) : Number.NaN,
    );
    return row;
  });
}

interface RidgeFit {
  predict(row: readonly number[]): number[];
}

/** Fits on rows [first, lastOrigin - horizon] whose targets are all known at lastOrigin. */
function fitRidge(features: number[][], closes: readonly number[], lastOrigin: number, horizon: number, lambda: number, maxRows = 2520): RidgeFit {
  const rows: number[] = [];
  for (let t = Math.max(FEATURE_WARMUP + 1, lastOrigin - horizon - maxRows + 1); t <= lastOrigin - horizon; t++) {
    if (features[t]!.every(Number.isFinite)) rows.push(t);
  }
  const p = features[0]!.length;
  // Standardise on the training rows only.
  const mu = Array.from({ length: p }, (_, j) => mean(rows.map((t) => features[t]![j]!)));
  const sd = mu.map((m, j) => Math.sqrt(mean(rows.map((t) => (features[t]![j]! - m) ** 2))) || 1);
  const z = (row: readonly number[]) => [1, ...row.map((x, j) => (x - mu[j]!) / sd[j]!)];
  const d = p + 1;
  const gram = Array.from({ length: d }, () => new Float64Array(d));
  const rhs = Array.from({ length: d }, () => new Float64Array(horizon));
  for (const t of rows) {
    const x = z(features[t]!);
    const y = cumulativeLogReturns(closes, t, horizon);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) gram[i]![j]! += x[i]! * x[j]!;
      for (let k = 0; k < horizon; k++) rhs[i]![k]! += x[i]! * y[k]!;
    }
  }
  for (let i = 1; i < d; i++) gram[i]![i]! += lambda; // the intercept is not penalised
  const weights = solve(gram, rhs);
  return {
    predict(row) {
      const x = z(row);
      return Array.from({ length: horizon }, (_, k) => x.reduce((s, xi, i) => s + xi * weights[i]![k]!, 0));
    },
  };
}

/** Gaussian elimination with partial pivoting for A W = B (A symmetric positive definite here). */
function solve(a: Float64Array[], b: Float64Array[]): Float64Array[] {
  const n = a.length;
  const A = a.map((r) => Float64Array.from(r));
  const B = b.map((r) => Float64Array.from(r));
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[pivot]![c]!)) pivot = r;
    [A[c], A[pivot]] = [A[pivot]!, A[c]!];
    [B[c], B[pivot]] = [B[pivot]!, B[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = A[r]![c]! / A[c]![c]!;
      for (let k = c; k < n; k++) A[r]![k]! -= f * A[c]![k]!;
      for (let k = 0; k < B[r]!.length; k++) B[r]![k]! -= f * B[c]![k]!;
    }
  }
  for (let c = n - 1; c >= 0; c--) {
    for (let k = 0; k < B[c]!.length; k++) {
      let s = B[c]![k]!;
      for (let j = c + 1; j < n; j++) s -= A[c]![j]! * B[j]![k]!;
      B[c]![k] = s / A[c]![c]!;
    }
  }
  return B;
}

/**
 * MASE (MAE / naive MAE over the same origins and steps) of the ridge reference at the given
 * origin indices, refitted every `refitEvery` origins. Lambda is chosen before the first origin:
 * the candidate with the lower MASE on the last 20% of the bars up to it, fitted on the rest.
 */
export function ridgeReferenceMase(bars: readonly DailyBar[], origins: readonly number[], horizon: number, refitEvery: number): { mase: number; lambda: number } {
  const closes = closesOf(bars);
  const features = referenceFeatures(bars);
  const first = at(origins, 0);
  const valStart = Math.floor(first - (first - FEATURE_WARMUP) * 0.2);
  const valOrigins = Array.from({ length: first - horizon - valStart + 1 }, (_, i) => valStart + i);
  const lambda = [10, 1000, 100_000]
    .map((l) => ({ l, mase: maseAt(features, closes, valOrigins, horizon, () => fitRidge(features, closes, valStart - 1, horizon, l)) }))
    .reduce((best, c) => (c.mase < best.mase ? c : best)).l;
  let fit: RidgeFit | undefined;
  const mase = maseAt(features, closes, origins, horizon, (o, i) => {
    if (i % refitEvery === 0 || !fit) fit = fitRidge(features, closes, o, horizon, lambda);
    return fit;
  });
  return { mase, lambda };
}

function maseAt(features: number[][], closes: readonly number[], origins: readonly number[], horizon: number, fitFor: (origin: number, i: number) => RidgeFit): number {
  let model = 0;
  let naive = 0;
  origins.forEach((o, i) => {
    const moves = fitFor(o, i).predict(at(features, o));
    for (let k = 0; k < horizon; k++) {
      const actual = at(closes, o + k + 1);
      model += Math.abs(at(closes, o) * Math.exp(moves[k]!) - actual);
      naive += Math.abs(at(closes, o) - actual);
    }
  });
  return relativeMase(model, naive);
}
