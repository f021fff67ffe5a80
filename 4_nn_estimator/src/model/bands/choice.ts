/**
 * Champion/challenger for the scale, at training time. The learned bands are served only if, on
 * validation windows none of the fits has seen, they beat EWMA(0.94)'s significantly: a one-sided
 * Diebold-Mariano test at 5% on QLIKE (step 1) or on an interval score (80% or 95%, step 1 or 5),
 * and significantly worse on none. Otherwise EWMA is served, unless GARCH or static beat it by the
 * same test (then the one of them with the better interval scores). Honest windows: the learned
 * network is trained before its validation span, chosen (early stopping, candidate) on the first half
 * of it, and compared on the second half (the holdout) with residual quantiles from the windows
 * before the holdout; the baselines are fitted on the bars before the holdout. What is stored for
 * serving is refitted on everything.
 */
import type { DailyBar } from '@stocks/common';
import { centredMoves, compareSteps, stepLosses, summarise, type StepLosses } from './evaluate.ts';
import { DEFAULT_LEARNED_OPTIONS, fitLearnedScale, NotEnoughBarsForBandsError, type LearnedFit, type LearnedScaleOptions } from './learned.ts';
import type { StoredBands } from './band-schemas.ts';
import { baselineFitters, type BaselineBandName } from './registry.ts';
import type { BandModel, BandModelFitter, BandModelName } from './types.ts';

/** Steps the comparison scores (the ones the product's targets name). */
export const COMPARISON_STEPS = [1, 5] as const;
export const DM_LEVEL = 0.05;
/** Comparison windows when there is no learned fit to take them from: the last year. */
const FALLBACK_WINDOWS = 250;
const MIN_WINDOWS = 20;

type BaselineName = BaselineBandName;

/** Fit every band model on `bars` (oldest first) and decide which is served. `maxHorizon`: the longest forecast served. */
export function chooseBands(bars: readonly DailyBar[], maxHorizon: number, options: LearnedScaleOptions = DEFAULT_LEARNED_OPTIONS): StoredBands {
  const fitters = baselineFitters(Math.max(maxHorizon, Math.max(...COMPARISON_STEPS)));
  let learned: LearnedFit | undefined;
  try {
    learned = fitLearnedScale(bars, options);
  } catch (err) {
    if (!(err instanceof NotEnoughBarsForBandsError)) throw err;
  }
  const horizon = Math.max(...COMPARISON_STEPS);
  const compared: Partial<Record<BandModelName, BandModel>> = {};
  let windowBars: readonly DailyBar[];
  let origins: number[];
  if (learned && learned.holdout.origins.length >= MIN_WINDOWS) {
    windowBars = learned.holdout.bars;
    // The comparison scores step `horizon`: the holdout's last origins need their targets inside the bars.
    origins = learned.holdout.origins.filter((t) => t + horizon < windowBars.length);
    compared.model = learned.bandsBeforeHoldout();
  } else {
    windowBars = bars;
    const last = bars.length - 1 - horizon;
    origins = Array.from({ length: Math.min(FALLBACK_WINDOWS, last) }, (_, i) => last - Math.min(FALLBACK_WINDOWS, last) + 1 + i);
  }
  if (origins.length < MIN_WINDOWS) throw new RangeError(`choosing bands needs at least ${MIN_WINDOWS + horizon + 1} bars, got ${bars.length}`);
  const before = windowBars.slice(0, (origins[0] ?? 0) + 1);
  for (const [name, fitter] of Object.entries(fitters) as Array<[BaselineName, BandModelFitter]>) compared[name] = fitter.fit(before);

  const actual = centredMoves(windowBars, origins, horizon);
  const losses: Partial<Record<BandModelName, Record<number, StepLosses>>> = {};
  for (const [name, model] of Object.entries(compared) as Array<[BandModelName, BandModel]>) {
    const forecasts = origins.map((t) => model.forecast(windowBars.slice(0, t + 1), horizon));
    losses[name] = Object.fromEntries(COMPARISON_STEPS.map((step) => [step, stepLosses(forecasts, actual, step)]));
  }
  const skill = Object.fromEntries(
    Object.entries(losses).map(([name, perStep]) => [name, Object.fromEntries(COMPARISON_STEPS.map((step) => [String(step), summarise(perStep[step]!, step)]))]),
  );
  const relativeScore = (name: BandModelName) => {
    const s = skill[name]!;
    const ref = skill.static!;
    const terms = COMPARISON_STEPS.flatMap((step) => [s[step]!.interval_score80 / ref[step]!.interval_score80, s[step]!.interval_score95 / ref[step]!.interval_score95]);
    return terms.reduce((a, b) => a + b, 0) / terms.length;
  };

  /** One-sided DM tests of `name` against EWMA on the holdout: where it is significantly better, and worse. */
  const versusEwma = (name: BandModelName) => {
    const tests: Array<{ label: string; better: number; worse: number }> = [];
    for (const step of COMPARISON_STEPS) {
      const c = compareSteps(losses[name]![step]!, losses.ewma![step]!, step);
      tests.push({ label: `is80_step${step}`, better: c.is80.a_better, worse: c.is80.a_worse }, { label: `is95_step${step}`, better: c.is95.a_better, worse: c.is95.a_worse });
      if (step === 1) tests.push({ label: 'qlike_step1', better: c.qlike.a_better, worse: c.qlike.a_worse });
    }
    const wins = tests.filter((t) => t.better < DM_LEVEL).map((t) => t.label);
    const worseOn = tests.filter((t) => t.worse < DM_LEVEL).map((t) => t.label);
    return { p: Object.fromEntries(tests.map((t) => [t.label, t.better])), wins, worseOn, beats: wins.length > 0 && worseOn.length === 0 };
  };
  // EWMA is the reference every challenger must beat significantly, the other baselines as much as
  // the learned bands: the lowest of three noisy holdout scores flipped from one refit to the next,
  // and sometimes named static, which ignores today's volatility.
  const baselineTests = Object.fromEntries((['garch', 'static'] as const).map((name) => [name, versusEwma(name)]));
  const bestBaseline = (): { name: BaselineName; why: string } => {
    const winners = (['garch', 'static'] as const).filter((name) => baselineTests[name]!.beats);
    if (winners.length === 0) return { name: 'ewma', why: 'no other baseline beat EWMA significantly' };
    const name = winners.reduce((a, b) => (relativeScore(b) < relativeScore(a) ? b : a));
    return { name, why: `${name} beat EWMA significantly (${baselineTests[name]!.wins.join(', ')})` };
  };

  let served: BandModelName;
  let reason: string;
  const model = losses.model ? versusEwma('model') : undefined;
  if (model?.beats) {
    served = 'model';
    reason = `learned bands beat EWMA significantly on validation (one-sided DM < ${DM_LEVEL}: ${model.wins.join(', ')})`;
  } else {
    const baseline = bestBaseline();
    served = baseline.name;
    const learnedWhy = !model ? 'not enough history for the learned bands' : model.wins.length === 0 ? 'learned bands not significantly better than EWMA on validation' : `learned bands significantly worse than EWMA on ${model.worseOn.join(', ')}`;
    reason = `${learnedWhy}; ${baseline.why}: serving ${served}`;
  }

  const models: Record<string, unknown> = {};
  for (const [name, fitter] of Object.entries(fitters) as Array<[BaselineName, BandModelFitter]>) models[name] = fitter.fit(bars).toJSON();
  if (learned) models.model = learned.bands.toJSON();
  const date = (t: number | undefined) => windowBars[t ?? 0]?.date ?? '';
  return {
    served,
    reason,
    models,
    validation: {
      start: date(origins[0]),
      end: date(origins.at(-1)),
      n: origins.length,
      skill,
      model_vs_ewma: model?.p ?? null,
      baselines_vs_ewma: Object.fromEntries(Object.entries(baselineTests).map(([name, t]) => [name, t.p])),
    },
  };
}
