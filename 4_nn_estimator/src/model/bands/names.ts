/** The band models a user can ask for (kept free of TF.js so request schemas can import it). */
import { z } from 'zod';
import type { BandModelName } from './types.ts';

export const BAND_MODEL_NAMES = ['static', 'ewma', 'garch', 'model'] as const satisfies readonly BandModelName[];
export const bandModelNameSchema = z.enum(BAND_MODEL_NAMES);
