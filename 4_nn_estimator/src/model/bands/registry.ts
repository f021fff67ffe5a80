/** Band models as stored with a model version (evaluation.bands, see band-schemas.ts), rebuilt for serving. */
import { z } from 'zod';
import { EwmaBands } from './ewma.ts';
import { GarchBands } from './garch.ts';
import { LearnedBands } from './learned.ts';
import { BAND_MODEL_NAMES, storedBandsSchema } from './band-schemas.ts';
import { StaticBands } from './static.ts';
import type { BandModel, BandModelName } from './types.ts';


const stepQuantilesSchema = z.object({ lower80: z.array(z.number()), upper80: z.array(z.number()), lower95: z.array(z.number()), upper95: z.array(z.number()) });
const ewmaJsonSchema = z.object({ name: z.literal('ewma'), lambda: z.number().gt(0).lt(1), quantiles: stepQuantilesSchema });
const staticJsonSchema = z.object({ name: z.literal('static'), window: z.number().int().positive() });
const garchJsonSchema = z.object({
  name: z.literal('garch'),
  fit: z.object({ omega: z.number(), alpha: z.number(), beta: z.number(), nu: z.number(), mu: z.number(), log_likelihood: z.number(), n: z.number(), converged: z.boolean() }),
  max_horizon: z.number().int().positive(),
  seed: z.number().int(),
});

/** Rebuild a stored band model; throws (zod) when the JSON is not one. */
export function bandModelFromJSON(name: BandModelName, json: unknown): BandModel {
  switch (name) {
    case 'static':
      return new StaticBands(staticJsonSchema.parse(json).window);
    case 'ewma': {
      const parsed = ewmaJsonSchema.parse(json);
      return new EwmaBands(parsed.lambda, parsed.quantiles);
    }
    case 'garch': {
      const parsed = garchJsonSchema.parse(json);
      return new GarchBands(parsed.fit, parsed.max_horizon, parsed.seed);
    }
    case 'model':
      return LearnedBands.fromJSON(json);
  }
}

export interface LoadedBands {
  served: BandModelName;
  models: Partial<Record<BandModelName, BandModel>>;
}

/** The stored bands of a version, rebuilt; undefined when the version has none (older versions) or they do not parse. */
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
