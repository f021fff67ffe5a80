/**
 * The baseline band models by name, and their restoration from toJSON(): a version stores the
 * bands it serves as JSON and the service rebuilds the same model (GARCH's simulation draws come
 * back from the stored seed, so forecasts are identical).
 */
import { ConformalBands, type ConformalFactors } from './conformal.ts';
import { DEFAULT_MAX_HORIZON, EwmaBands, ewmaFitter, type StepQuantiles } from './ewma.ts';
import { GarchBands, garchFitter, type GarchFit } from './garch.ts';
import { StaticBands, staticFitter } from './static.ts';
import type { BandModel, BandModelFitter } from './types.ts';

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
