/**
 * How often would a perfect band model meet issue 13's calibration targets on the bench's spans?
 *
 * bench:backtest scores coverage on 452-657 consecutive origins per history; at h = 5 consecutive
 * 5-day windows share 4 days, so their hits are far from independent. This draws series whose
 * distribution is known exactly (i.i.d. unit-variance Student-t returns, so the oracle's bands are
 * the true quantiles) with the bench's origin counts, and counts how often the oracle's coverage is
 * inside the targets (|cov80 - 0.80| <= 0.05, |cov95 - 0.95| <= 0.025) on one history and on all of
 * them at once. Volatility clustering (real returns) only adds dependence between windows, so these
 * are the best odds any model has. Run: npm run bench:calibration-noise
 */
import { standardisedTDraws } from '../4_nn_estimator/src/model/bands/garch.ts';
import { mulberry32 } from '../4_nn_estimator/src/model/random.ts';

/** Origins at h = 1 of the bench's test span (AAPL AMZN GOOG MSFT NVDA TSLA: 452, BTC-USD 657, ^GSPC 503). */
const ORIGINS = (process.env.NOISE_ORIGINS ?? '452,452,657,452,452,452,452,503').split(',').map(Number);
const REPLICATIONS = Number(process.env.NOISE_REPLICATIONS ?? 4000);
const NU = Number(process.env.NOISE_NU ?? 5);
const HORIZONS = [1, 5] as const;
const LEVELS = [
  { level: 80, nominal: 0.8, tolerance: 0.05 },
  { level: 95, nominal: 0.95, tolerance: 0.025 },
] as const;

const random = mulberry32(13);

/** The true quantiles of the h-day sum, from a large sample of the same draws. */
function trueEdges(h: number): Record<number, [number, number]> {
  const n = 2_000_000;
  const draws = standardisedTDraws(NU, n * h, random);
  const sums = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < h; j++) sums[i]! += draws[i * h + j]!;
  sums.sort();
  const at = (p: number) => sums[Math.floor(p * (n - 1))]!;
  return { 80: [at(0.1), at(0.9)], 95: [at(0.025), at(0.975)] };
}

const edges = Object.fromEntries(HORIZONS.map((h) => [h, trueEdges(h)])) as Record<number, Record<number, [number, number]>>;
type Key = `${number}/${number}`;
const keys: Key[] = HORIZONS.flatMap((h) => LEVELS.map((l) => `${h}/${l.level}` as Key));
const insideOne: Partial<Record<Key, number>> = Object.fromEntries(keys.map((k) => [k, 0]));
const insideAll: Partial<Record<Key, number>> = Object.fromEntries(keys.map((k) => [k, 0]));
let everyTarget = 0;
const perHorizonAll: Record<number, number> = { 1: 0, 5: 0 };

for (let rep = 0; rep < REPLICATIONS; rep++) {
  const allInside: Record<Key, boolean> = Object.fromEntries(keys.map((k) => [k, true]));
  for (const origins of ORIGINS) {
    const returns = standardisedTDraws(NU, origins + Math.max(...HORIZONS), random);
    for (const h of HORIZONS) {
      const n = origins - (h - 1);
      for (const { level, nominal, tolerance } of LEVELS) {
        const [lo, hi] = edges[h]![level]!;
        let hits = 0;
        for (let t = 0; t < n; t++) {
          let move = 0;
          for (let j = 0; j < h; j++) move += returns[t + j]!;
          if (move >= lo && move <= hi) hits++;
        }
        const ok = Math.abs(hits / n - nominal) <= tolerance;
        const key: Key = `${h}/${level}`;
        if (ok) insideOne[key]! += 1;
        if (!ok) allInside[key] = false;
      }
    }
  }
  for (const k of keys) if (allInside[k]) insideAll[k]! += 1;
  for (const h of HORIZONS) if (LEVELS.every((l) => allInside[`${h}/${l.level}`])) perHorizonAll[h]!++;
  if (keys.every((k) => allInside[k])) everyTarget++;
}

const pct = (x: number, of: number) => `${((100 * x) / of).toFixed(1)}%`;
console.log(`oracle bands (true quantiles of i.i.d. Student-t(${NU}) returns), ${REPLICATIONS} replications of ${ORIGINS.length} histories (${ORIGINS.join(', ')} origins)`);
console.log('| horizon | level | target | one history inside | all histories inside |');
console.log('|---|---|---|---|---|');
for (const h of HORIZONS) {
  for (const { level, nominal, tolerance } of LEVELS) {
    const key: Key = `${h}/${level}`;
    console.log(`| ${h} | ${level}% | ${nominal} ± ${tolerance} | ${pct(insideOne[key]!, REPLICATIONS * ORIGINS.length)} | ${pct(insideAll[key]!, REPLICATIONS)} |`);
  }
}
for (const h of HORIZONS) console.log(`both levels on every history at h = ${h}: ${pct(perHorizonAll[h]!, REPLICATIONS)}`);
console.log(`every calibration target at both horizons: ${pct(everyTarget, REPLICATIONS)}`);
