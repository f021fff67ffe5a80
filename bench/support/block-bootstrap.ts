/**
 * Moving-block bootstrap (Künsch 1989) for the bench's means over overlapping windows: consecutive
 * origins' losses are dependent (volatility clusters; h-day windows share h − 1 days), so origins are
 * resampled in blocks of consecutive ones. Seeded, so a bench prints the same interval for the same losses.
 */
import { mulberry32 } from '../../4_nn_estimator/src/model/random.ts';

/** Indices 0..n-1 resampled in circular blocks of `block` consecutive ones, n in all. */
export function blockIndices(n: number, block: number, random: () => number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; ) {
    const start = Math.floor(random() * n);
    for (let j = 0; j < block && i < n; j++, i++) out[i] = (start + j) % n;
  }
  return out;
}

/**
 * The central `level` interval of `statistic` over `resamples` block-bootstrap draws. `sizes` are the
 * series' lengths (one per history, resampled independently); `statistic` gets one index array per series.
 */
export function blockBootstrapInterval(sizes: readonly number[], statistic: (indices: readonly Int32Array[]) => number, options: { block?: number; resamples?: number; level?: number; seed?: number } = {}): [number, number] {
  const { block = 20, resamples = 2000, level = 0.9, seed = 1 } = options;
  const random = mulberry32(seed);
  const draws = Float64Array.from({ length: resamples }, () => statistic(sizes.map((n) => blockIndices(n, block, random))));
  draws.sort();
  const at = (p: number) => draws[Math.min(resamples - 1, Math.max(0, Math.round(p * (resamples - 1))))]!;
  return [at((1 - level) / 2), at((1 + level) / 2)];
}
