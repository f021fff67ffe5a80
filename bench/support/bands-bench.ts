/**
 * The bands half of bench:backtest: every origin of the last 20% of each history, scored at step h
 * for each h of `horizons` (1 and 5), on log moves around the naive point (the served point unless
 * the network shows significant skill).
 *
 * Every REFIT_EVERY origins the product's own choice runs on the bars up to that origin (at most
 * 2520): chooseBands (choice.ts) fits static, EWMA, GARCH-t and the learned bands, compares them on
 * its validation windows and names the served one; the stored result is rebuilt with loadBands as the
 * service does. So "served" here is exactly what a version trained on those bars would serve, and
 * the baselines beside it are the same fitted models the version stores.
 */
import type { DailyBar } from '@stocks/common';
import { chooseBands } from '../../4_nn_estimator/src/model/bands/choice.ts';
import { centredMoves, compareSteps, stepLosses, summarise, type StepComparison, type StepLosses, type StepSummary } from '../../4_nn_estimator/src/model/bands/evaluate.ts';
import { loadBands } from '../../4_nn_estimator/src/model/bands/registry.ts';
import { resolveModelConfig } from '../../4_nn_estimator/src/model/config.ts';
import type { BandForecast, BandModelName } from '../../4_nn_estimator/src/model/bands/types.ts';

export const BASELINE_NAMES = ['static', 'ewma', 'garch'] as const;
/** Every band model a version stores, then what it serves. */
export const BAND_COLUMNS = ['static', 'ewma', 'garch', 'model', 'served'] as const;
export type Column = (typeof BAND_COLUMNS)[number];
/** Origins between refits (a quarter of sessions): each refit sees bars up to its origin only. */
export const REFIT_EVERY = 63;
const MAX_TRAIN_BARS = 2520;
const SERVED_HORIZON = resolveModelConfig({}).horizon;

export interface HorizonResult {
  horizon: number;
  n_origins: number;
  first_origin: string;
  last_origin: string;
  /** Each stored model as it is, and 'served'. */
  summary: Record<string, StepSummary>;
  /** Served against each baseline. */
  served_vs: Record<string, StepComparison>;
  /** Each model against static (for the table's significance marks). */
  vs_static: Record<string, StepComparison>;
  /** The served model at each refit, in order, e.g. "ewma ewma model ...". */
  served_choice: string;
  /** How many refits served each model. */
  choices: Partial<Record<BandModelName, number>>;
  /** The reasons chooseBands gave, one per refit. */
  reasons: string[];
  /** Per-origin losses of every column (for resampling the bench's means). */
  losses: Record<Column, StepLosses>;
}

/** Walk-forward over the test span with the product's choice at every refit; one result per horizon. */
export function benchBands(bars: readonly DailyBar[], horizons: readonly number[]): HorizonResult[] {
  const testStart = Math.floor(bars.length * 0.8);
  const maxHorizon = Math.max(...horizons);
  const minHorizon = Math.min(...horizons);
  const origins = range(testStart, bars.length - 1 - minHorizon);
  const forecasts: Record<Column, BandForecast[]> = { static: [], ewma: [], garch: [], model: [], served: [] };
  const served: BandModelName[] = [];
  const reasons: string[] = [];
  let loaded: ReturnType<typeof loadBands>;
  for (const [i, t] of origins.entries()) {
    const recent = bars.slice(Math.max(0, t + 1 - MAX_TRAIN_BARS), t + 1);
    if (i % REFIT_EVERY === 0) {
      // As a training does (train.ts): the longest forecast the model serves (GARCH's seeded draws depend on it).
      const stored = chooseBands(recent, Math.max(SERVED_HORIZON, maxHorizon));
      loaded = loadBands(JSON.parse(JSON.stringify(stored)));
      if (!loaded) throw new Error(`the stored bands at ${bars[t]!.date} do not load`);
      served.push(loaded.served);
      reasons.push(`${bars[t]!.date} ${loaded.served}: ${stored.reason}`);
    }
    for (const name of BAND_COLUMNS) {
      const model = name === 'served' ? loaded!.models[loaded!.served] : loaded!.models[name];
      if (!model) throw new Error(`no ${name} bands stored at ${bars[t]!.date}`);
      forecasts[name].push(model.forecast(recent, maxHorizon));
    }
  }
  const choices: Partial<Record<BandModelName, number>> = {};
  for (const s of served) choices[s] = (choices[s] ?? 0) + 1;

  return horizons.map((horizon) => {
    const scored = origins.filter((t) => t + horizon <= bars.length - 1);
    const actual = centredMoves(bars, scored, horizon);
    const losses = Object.fromEntries(BAND_COLUMNS.map((name) => [name, stepLosses(forecasts[name].slice(0, scored.length), actual, horizon)])) as Record<Column, StepLosses>;
    return {
      horizon,
      n_origins: scored.length,
      first_origin: bars[scored[0]!]!.date,
      last_origin: bars[scored.at(-1)!]!.date,
      summary: Object.fromEntries(BAND_COLUMNS.map((name) => [name, summarise(losses[name], horizon)])),
      served_vs: Object.fromEntries(BASELINE_NAMES.map((b) => [b, compareSteps(losses.served, losses[b], horizon)])),
      vs_static: Object.fromEntries(BAND_COLUMNS.filter((n) => n !== 'static').map((n) => [n, compareSteps(losses[n], losses.static, horizon)])),
      served_choice: served.join(' '),
      choices,
      reasons,
      losses,
    };
  });
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
