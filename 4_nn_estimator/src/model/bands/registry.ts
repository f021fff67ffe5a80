/**
 * The band models by name, and their restoration from toJSON(): a version stores its band models
 * as JSON (evaluation.bands, see band-schemas.ts) and the service rebuilds the same models (GARCH's
 * simulation draws come back from the stored seed, so forecasts are identical).
 */
import { ConformalBands, type ConformalFactors } from './conformal.ts';
import { DEFAULT_MAX_HORIZON, EwmaBands, ewmaFitter, type StepQuantiles } from './ewma.ts';
import { GarchBands, garchFitter, type GarchFit } from './garch.ts';
import { StaticBands, staticFitter } from './static.ts';
import { BAND_MODEL_NAMES, storedBandsSchema } from './band-schemas.ts';
import { LearnedBands } from './learned.ts';
import type { BandModel, BandModelFitter, BandModelName } from './types.ts';

export type BaselineBandName = 'static' | 'ewma' | 'garch';

export function baselineFitters(maxHorizon = DEFAULT_MAX_HORIZON): Record<BaselineBandName, BandModelFitter> {
  return { static: staticFitter, ewma: ewmaFitter(maxHorizon), garch: garchFitter(maxHorizon) };
}

export class UnknownBandModelError extends TypeError {
  override readonly name = 'UnknownBandModelError';
}

/** Rebuilds a baseline (or a conformal wrapper of one) from its toJSON(); the learned model restores itself elsewhere. */
export function baselineFromJSON(json: unknown): BandModel {
  const j = json as Record<string, unknown> | null;
  if (!j || typeof j !== 'object') throw new UnknownBandModelError('band model JSON must be an object');
  if (j.conformal) return new ConformalBands(baselineFromJSON(j.base), j.conformal as ConformalFactors);
  switch (j.name) {
    case 'static':
      return new StaticBands(Number(j.window));
    case 'ewma':
      return new EwmaBands(Number(j.lambda), j.quantiles as StepQuantiles);
    case 'garch':
      return new GarchBands(j.fit as GarchFit, Number(j.max_horizon), Number(j.seed));
    default:
      throw new UnknownBandModelError(`no baseline band model named ${String(j.name)}`);
  }
}

/** Any stored band model: the learned one restores itself (zod-checked), the baselines above. */
export function bandModelFromJSON(name: BandModelName, json: unknown): BandModel {
  return name === 'model' ? LearnedBands.fromJSON(json) : baselineFromJSON(json);
}

export interface LoadedBands {
  served: BandModelName;
  models: Partial<Record<BandModelName, BandModel>>;
}

/** The stored bands of a version (evaluation.bands), rebuilt; undefined when the version has none (older versions) or they do not parse. */
export function loadBands(json: unknown): LoadedBands | undefined {
  const parsed = storedBandsSchema.safeParse(json);
  if (!parsed.success) return undefined;
  const models: Partial<Record<BandModelName, BandModel>> = {};
  for (const name of BAND_MODEL_NAMES) {
    const state = parsed.data.models[name];
    if (state !== undefined) models[name] = bandModelFromJSON(name, state);
  }
  return models[parsed.data.served] ? { served: parsed.data.served, models } : undefined;
}
