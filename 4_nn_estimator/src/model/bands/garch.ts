/**
 * GARCH(1,1) with Student-t innovations (Bollerslev 1986, 1987), fitted by maximum likelihood:
 *   r_t = mu + e_t,  e_t = sigma_t z_t,  z_t ~ t(nu) scaled to unit variance,
 *   sigma^2_t = omega + alpha e^2_{t-1} + beta sigma^2_{t-1}.
 * mu is the sample mean; (omega, alpha, beta, nu) maximise the exact t log-likelihood with
 * Nelder-Mead on an unconstrained reparametrisation (omega > 0, alpha, beta >= 0,
 * alpha + beta < 1, nu > 2). Returns are handled in percent for conditioning.
 * Multi-step: E[sigma^2_{t+j}] = s2 + (alpha + beta)^{j-1} (sigma^2_{t+1} - s2) with
 * s2 = omega / (1 - alpha - beta); band edges come from SIMULATION_PATHS simulated paths of the
 * fitted process (innovations drawn once per fit with a seeded PRNG: forecasts are repeatable).
 */
import type { DailyBar } from '@stocks/common';
import jstatPkg from 'jstat';
import { mulberry32 } from '../random.ts';
import { nelderMead } from './nelder-mead.ts';
import { bandEdgesOf, bandForecastOf, checkHorizon, dailyLogReturns } from './series.ts';
import { DEFAULT_MAX_HORIZON } from './ewma.ts';
import type { BandForecast, BandModel, BandModelFitter } from './types.ts';

const { jStat } = jstatPkg;
const PERCENT = 100;
/** Returns the variance filter runs over at a forecast (beta^1000 is negligible for beta < 0.98). */
const FILTER_SPAN = 1000;
export const SIMULATION_PATHS = 4000;
const MAX_PERSISTENCE = 0.9999;
const MIN_NU = 2.05;
const MAX_NU = 200;

export interface GarchParams {
  /** Percent^2 units. */
  omega: number;
  alpha: number;
  beta: number;
  nu: number;
  /** Mean daily return, percent. */
  mu: number;
}

export interface GarchFit extends GarchParams {
  /** Mean log-likelihood per observation at the optimum (percent returns). */
  log_likelihood: number;
  n: number;
  converged: boolean;
}

const sigmoid = (u: number) => 1 / (1 + Math.exp(-u));
const logit = (p: number) => Math.log(p / (1 - p));

function fromUnconstrained(u: readonly number[]): Omit<GarchParams, 'mu'> {
  const persistence = MAX_PERSISTENCE * sigmoid(u[1]!);
  const alpha = persistence * sigmoid(u[2]!);
  return { omega: Math.exp(u[0]!), alpha, beta: persistence - alpha, nu: Math.min(MAX_NU, MIN_NU + Math.exp(u[3]!)) };
}

function toUnconstrained(p: Omit<GarchParams, 'mu'>): number[] {
  const persistence = p.alpha + p.beta;
  return [Math.log(p.omega), logit(persistence / MAX_PERSISTENCE), logit(p.alpha / persistence), Math.log(p.nu - MIN_NU)];
}

/**
 * Mean Student-t log-likelihood of demeaned returns `e` (percent) under the parameters; the
 * variance recursion starts at the sample variance (backcast).
 */
export function garchTLogLikelihood(e: readonly number[], p: Omit<GarchParams, 'mu'>): number {
  const { omega, alpha, beta, nu } = p;
  const constant = jStat.gammaln((nu + 1) / 2) - jStat.gammaln(nu / 2) - 0.5 * Math.log(Math.PI * (nu - 2));
  let s2 = e.reduce((s, x) => s + x * x, 0) / e.length;
  let ll = 0;
  for (const x of e) {
    ll += constant - 0.5 * Math.log(s2) - ((nu + 1) / 2) * Math.log(1 + (x * x) / ((nu - 2) * s2));
    s2 = omega + alpha * x * x + beta * s2;
  }
  return ll / e.length;
}

/** Maximum-likelihood GARCH(1,1)-t of daily log returns (fractions, not percent). */
export function fitGarchT(returns: readonly number[]): GarchFit {
  if (returns.length < 250) throw new RangeError(`GARCH(1,1)-t needs at least 250 returns to fit, got ${returns.length}`);
  const pct = returns.map((r) => r * PERCENT);
  const mu = pct.reduce((s, x) => s + x, 0) / pct.length;
  const e = pct.map((x) => x - mu);
  const variance = e.reduce((s, x) => s + x * x, 0) / e.length;
  const objective = (u: readonly number[]) => -garchTLogLikelihood(e, fromUnconstrained(u));
  let best = nelderMead(objective, toUnconstrained({ omega: variance * 0.02, alpha: 0.08, beta: 0.9, nu: 6 }), { step: 0.5 });
  // Restarting from the optimum with a fresh simplex guards against a collapsed one.
  for (let i = 0; i < 2; i++) {
    const again = nelderMead(objective, best.x, { step: 0.1 });
    const improved = best.fx - again.fx > 1e-10;
    best = again.fx <= best.fx ? again : best;
    if (!improved) break;
  }
  return { ...fromUnconstrained(best.x), mu, log_likelihood: -best.fx, n: e.length, converged: best.converged };
}

/** Standard normal by Box-Muller from a uniform generator. */
function normal(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Gamma(shape >= 1, scale 1) by Marsaglia & Tsang (2000). */
function gamma(shape: number, random: () => number): number {
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = normal(random);
    const v = (1 + c * x) ** 3;
    if (v <= 0) continue;
    if (Math.log(1 - random()) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** Unit-variance Student-t draws (nu > 2). */
export function standardisedTDraws(nu: number, count: number, random: () => number): Float64Array {
  const out = new Float64Array(count);
  const scale = Math.sqrt((nu - 2) / nu);
  for (let i = 0; i < count; i++) out[i] = (normal(random) / Math.sqrt((2 * gamma(nu / 2, random)) / nu)) * scale;
  return out;
}

export class GarchBands implements BandModel {
  readonly name = 'garch' as const;
  private readonly draws: Float64Array;

  constructor(readonly fit: GarchFit, readonly maxHorizon = DEFAULT_MAX_HORIZON, readonly seed = 7) {
    this.draws = standardisedTDraws(fit.nu, SIMULATION_PATHS * maxHorizon, mulberry32(seed));
  }

  /** sigma^2 (percent^2) of the next day's return, given bars up to the origin. */
  nextVariance(bars: readonly DailyBar[]): number {
    const { omega, alpha, beta, mu } = this.fit;
    let s2 = omega / Math.max(1e-6, 1 - alpha - beta);
    for (const r of dailyLogReturns(bars, FILTER_SPAN)) {
      const e = r * PERCENT - mu;
      s2 = omega + alpha * e * e + beta * s2;
    }
    return s2;
  }

  forecast(bars: readonly DailyBar[], horizon: number): BandForecast {
    checkHorizon(horizon, this.maxHorizon);
    const { omega, alpha, beta, mu } = this.fit;
    const next = this.nextVariance(bars);
    const persistence = alpha + beta;
    const longRun = omega / Math.max(1e-6, 1 - persistence);
    const samples = Array.from({ length: horizon }, () => new Float64Array(SIMULATION_PATHS));
    for (let p = 0; p < SIMULATION_PATHS; p++) {
      let s2 = next;
      let cum = 0;
      for (let j = 0; j < horizon; j++) {
        const e = Math.sqrt(s2) * this.draws[p * this.maxHorizon + j]!;
        cum += mu + e;
        samples[j]![p] = cum / PERCENT;
        s2 = omega + alpha * e * e + beta * s2;
      }
    }
    let expected = 0;
    return bandForecastOf(samples.map((sample, j) => {
      expected += longRun + persistence ** j * (next - longRun);
      const drift = (mu * (j + 1)) / PERCENT;
      return { variance: expected / PERCENT ** 2 + drift * drift, ...bandEdgesOf(sample) };
    }));
  }

  toJSON(): unknown {
    return { name: this.name, fit: this.fit, max_horizon: this.maxHorizon, seed: this.seed, paths: SIMULATION_PATHS };
  }
}

/** Fits on the most recent `maxBars` bars of the training span (default: ten years). */
export function garchFitter(maxHorizon = DEFAULT_MAX_HORIZON, maxBars = 2520): BandModelFitter {
  return { name: 'garch', fit: (trainBars) => new GarchBands(fitGarchT(dailyLogReturns(trainBars, maxBars - 1)), maxHorizon) };
}
