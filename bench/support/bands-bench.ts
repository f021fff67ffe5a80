/**
 * The bands half of bench:backtest: every origin of the last 20% of each history, h = 1 and 5,
 * static / EWMA / GARCH-t bands, and the served choice among every band model conformally
 * recalibrated on the last 250 or 500 windows of each fit (never a raw one: only recalibrated
 * bands carry a coverage guarantee), picked per ticker and
 * horizon on a selection span BEFORE the test span (lowest mean interval score relative to
 * static over both levels). Scores are on log moves around the naive point (the served point unless the network
 * shows significant skill), at step h.
 */
import type { DailyBar } from '@stocks/common';
import { conformalFitter } from '../../4_nn_estimator/src/model/bands/conformal.ts';
import {
  centredMoves, compareSteps, stepLosses, summarise, walkForwardBands, type StepComparison, type StepLosses, type StepSummary,
} from '../../4_nn_estimator/src/model/bands/evaluate.ts';
import { meanOf } from '../../4_nn_estimator/src/model/bands/scoring.ts';
import type { BandModelFitter } from '../../4_nn_estimator/src/model/bands/types.ts';

export const BASELINE_NAMES = ['static', 'ewma', 'garch'] as const;
/** Origins between refits (a quarter of sessions): each refit sees bars up to its origin only. */
export const REFIT_EVERY = 63;
/** Validation windows of the conformal recalibration, at the end of each fit's training bars: a setting chosen on the selection span. */
export const CONFORMAL_WINDOWS = [250, 500];
/** Origins just before the test span on which the served candidate is chosen. */
export const SELECTION_ORIGINS = 500;

export interface HorizonResult {
  horizon: number;
  n_origins: number;
  first_origin: string;
  last_origin: string;
  /** Baselines as they are, and 'served'. */
  summary: Record<string, StepSummary>;
  /** Served against each baseline. */
  served_vs: Record<string, StepComparison>;
  /** Each model against static (for the table's significance marks). */
  vs_static: Record<string, StepComparison>;
  served_choice: string;
  selection_scores: Record<string, number>;
}

/**
 * `fitters`: the baselines first (static, ewma, garch), then any other candidate (the learned
 * band model plugs in here). Candidates for serving: each fitter recalibrated.
 */
export function benchBands(bars: readonly DailyBar[], fitters: readonly BandModelFitter[], horizon: number): HorizonResult {
  const testStart = Math.floor(bars.length * 0.8);
  const origins = range(testStart, bars.length - 1 - horizon);
  const selection = range(testStart - SELECTION_ORIGINS - horizon, testStart - horizon - 1);
  const options = { horizon, refitEvery: REFIT_EVERY, maxTrainBars: 2520 };
  const candidates = fitters.flatMap((f) => CONFORMAL_WINDOWS.map((windows) => ({ label: `cf${windows} ${f.name}`, fitter: conformalFitter(f, { horizon, windows }) })));

  // Selection: each candidate, fitted once on bars up to the selection span's first origin,
  // scored on that span against raw static; the lowest mean relative interval score is served.
  const selActual = centredMoves(bars, selection, horizon);
  const selStatic = stepLosses(walkForwardBands(bars, fitters[0]!, { ...options, origins: selection, refitEvery: selection.length }), selActual, horizon);
  const selection_scores: Record<string, number> = {};
  for (const c of candidates) {
    const l = stepLosses(walkForwardBands(bars, c.fitter, { ...options, origins: selection, refitEvery: selection.length }), selActual, horizon);
    selection_scores[c.label] = (meanOf(l.is80) / meanOf(selStatic.is80) + meanOf(l.is95) / meanOf(selStatic.is95)) / 2;
  }
  const served_choice = Object.entries(selection_scores).sort((a, b) => a[1] - b[1])[0]![0];

  const actual = centredMoves(bars, origins, horizon);
  const losses: Record<string, StepLosses> = {};
  for (const f of fitters) losses[f.name] = stepLosses(walkForwardBands(bars, f, { ...options, origins }), actual, horizon);
  const chosen = candidates.find((c) => c.label === served_choice)!;
  losses.served = losses[served_choice] ?? stepLosses(walkForwardBands(bars, chosen.fitter, { ...options, origins }), actual, horizon);

  const summary = Object.fromEntries(Object.entries(losses).map(([name, l]) => [name, summarise(l, horizon)]));
  const served_vs = Object.fromEntries(BASELINE_NAMES.filter((b) => losses[b]).map((b) => [b, compareSteps(losses.served!, losses[b]!, horizon)]));
  const vs_static = Object.fromEntries(Object.keys(losses).filter((n) => n !== 'static').map((n) => [n, compareSteps(losses[n]!, losses.static!, horizon)]));
  return {
    horizon, n_origins: origins.length, first_origin: bars[origins[0]!]!.date, last_origin: bars[origins.at(-1)!]!.date,
    summary, served_vs, vs_static, served_choice, selection_scores,
  };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
