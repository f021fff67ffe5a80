import { z } from 'zod';

/** The longest input window a model may be configured with (bars). */
export const MAX_WINDOW = 1000;

/**
 * Model hyper-parameters. The network is DIRECT multi-output: one forward pass emits all `horizon`
 * cumulative log returns at once. Compared with recursive one-step forecasting (feed the prediction
 * back as input) this avoids compounding its own errors, needs no synthetic future features
 * (volatility/MA of predicted prices), and costs one predict call per forecast. Shorter forecasts
 * simply take the first k outputs.
 */
export const ModelConfigSchema = z.object({
  /** Input sequence length in trading days. */
  window: z.number().int().min(2).max(MAX_WINDOW).default(60),
  /** Maximum forecast steps (trading days); the model outputs all of them. */
  horizon: z.number().int().min(1).max(365).default(30),
  units: z.number().int().min(1).max(1024).default(32),
  epochs: z.number().int().min(1).max(1000).default(30),
  batchSize: z.number().int().min(1).max(4096).default(64),
  learningRate: z.number().positive().max(1).default(1e-3),
  /** Share of (chronologically last) windows held out for early stopping, alpha and metrics. */
  validationFraction: z.number().gt(0).lt(1).default(0.2),
  /** Early stopping: epochs without validation-loss improvement before stopping. */
  patience: z.number().int().min(1).max(1000).default(5),
  seed: z.number().int().default(42),
  /** Dropout between the LSTM and the dense head (seeded, so runs still repeat). */
  dropout: z.number().min(0).lt(1).default(0),
  /**
   * How alpha is fitted on validation: `significant` (least squares, but 0 = naive unless a
   * Diebold-Mariano test on held-out validation windows shows the network beats naive at 5%),
   * `least_squares` over all validation windows, or `split_halves` (the smaller alpha of the two
   * chronological halves).
   */
  shrinkage: z.enum(['significant', 'least_squares', 'split_halves']).default('significant'),
  /** Fine-tuning (warm start) epochs and learning rate (lower than full training). */
  fineTuneEpochs: z.number().int().min(1).max(1000).default(2),
  fineTuneLearningRate: z.number().positive().max(1).default(1e-4),
});

export type ModelConfig = z.infer<typeof ModelConfigSchema>;

/** Defaults filled in and validated; throws a ZodError on invalid values. */
export function resolveModelConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return ModelConfigSchema.parse(overrides);
}
