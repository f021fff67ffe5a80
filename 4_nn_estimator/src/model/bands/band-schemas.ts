/**
 * The band models a user can ask for, and what a model version stores about them (evaluation.bands):
 * every candidate's fitted state, which one is served, and the validation figures behind the choice.
 * Kept free of TF.js so the HTTP schemas can import it.
 */
import { z } from 'zod';
import type { BandModelName } from './types.ts';

export const BAND_MODEL_NAMES = ['static', 'ewma', 'garch', 'model'] as const satisfies readonly BandModelName[];
export const bandModelNameSchema = z.enum(BAND_MODEL_NAMES);

/** Validation figures of one band model at one step (means over the comparison windows). */
export const bandSkillSchema = z.object({
  interval_score80: z.number(),
  interval_score95: z.number(),
  coverage80: z.number(),
  coverage95: z.number(),
  /** Two-sided p-values of "covers 80% / 95%" (stored before: none). */
  coverage80_p: z.number().nullable().optional(),
  coverage95_p: z.number().nullable().optional(),
  qlike: z.number(),
});

export const storedBandsSchema = z.object({
  served: bandModelNameSchema,
  reason: z.string(),
  /** Fitted state of every candidate that could be fitted. */
  models: z.record(z.string(), z.unknown()),
  validation: z.object({
    start: z.string(),
    end: z.string(),
    n: z.number().int(),
    /** Per model, per step ("1", "5"). */
    skill: z.record(z.string(), z.record(z.string(), bandSkillSchema)),
    /** One-sided Diebold-Mariano p-values of the learned bands beating EWMA's. */
    model_vs_ewma: z.record(z.string(), z.number()).nullable(),
    /** The same p-values for the other baselines (a baseline replaces EWMA only on a significant win). Stored before: none. */
    baselines_vs_ewma: z.record(z.string(), z.record(z.string(), z.number())).optional(),
  }),
});
export type StoredBands = z.infer<typeof storedBandsSchema>;

