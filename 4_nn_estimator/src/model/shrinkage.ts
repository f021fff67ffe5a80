/**
 * How much of the network's predicted move is served: alpha in [0, 1] shrinks it towards zero
 * (alpha = 0 is exactly the naive forecast), fitted on validation windows only, with the
 * evidence rules (split halves, Diebold-Mariano significance) that keep chance skill out.
 */
import type { ModelConfig } from './config.ts';
import { at } from './features.ts';

/**
 * Least-squares shrinkage of predicted log-return moves towards zero (= naive):
 * alpha = argmin sum (actual - alpha * predicted)^2 = <actual, predicted> / <predicted, predicted>,
 * clipped to [0, 1]. A net without skill gets alpha ~ 0, i.e. the naive forecast.
 */
export function fitShrinkage(predicted: readonly (readonly number[])[], actual: readonly (readonly number[])[]): number {
  let cross = 0;
  let power = 0;
  predicted.forEach((row, w) => {
    row.forEach((p, k) => {
      cross += p * at(at(actual, w), k);
      power += p * p;
    });
  });
  if (!(power > 0) || !Number.isFinite(cross)) return 0;
  return Math.min(1, Math.max(0, cross / power));
}

/**
 * The served alpha: the smaller of the least-squares alphas fitted on the first and on the second
 * (chronological) half of the validation windows. Skill that shows up in only one half is not
 * trusted out of sample, so a network that is right by chance gets alpha = 0 (the naive forecast).
 */
export function fitConsistentShrinkage(predicted: readonly (readonly number[])[], actual: readonly (readonly number[])[]): number {
  const half = Math.floor(predicted.length / 2);
  if (half < 2) return fitShrinkage(predicted, actual);
  return Math.min(fitShrinkage(predicted.slice(0, half), actual.slice(0, half)), fitShrinkage(predicted.slice(half), actual.slice(half)));
}

/** The shrinkage rule named in the config (see ModelConfig.shrinkage). */
export function servedAlpha(rule: ModelConfig['shrinkage'], predicted: readonly (readonly number[])[], actual: readonly (readonly number[])[]): number {
  if (rule === 'split_halves') return fitConsistentShrinkage(predicted, actual);
  if (rule === 'significant') return fitSignificantShrinkage(predicted, actual);
  return fitShrinkage(predicted, actual);
}

/** One-sided 5% critical value of the standard normal: the Diebold-Mariano statistic must exceed it. */
const DM_CRITICAL = 1.645;

/**
 * Serve the network only where validation gives evidence that it beats naive: alpha is fitted
 * on the first half of the validation windows, then a one-sided Diebold-Mariano test on the
 * second half (squared one-step errors of the shrunk forecast against naive's) must reject
 * "no better than naive" at 5%. Otherwise alpha = 0 and the forecast is exactly naive, so a
 * network that is right by chance never makes the served forecast worse than naive.
 */
export function fitSignificantShrinkage(predicted: readonly (readonly number[])[], actual: readonly (readonly number[])[]): number {
  const half = Math.floor(predicted.length / 2);
  if (half < 10) return 0;
  const alpha = fitShrinkage(predicted.slice(0, half), actual.slice(0, half));
  if (alpha === 0) return 0;
  const gains = predicted.slice(half).map((row, i) => {
    const truth = at(at(actual, half + i), 0);
    return truth * truth - (truth - alpha * at(row, 0)) ** 2; // naive's squared error minus the model's
  });
  const mean = gains.reduce((a, b) => a + b, 0) / gains.length;
  const variance = gains.reduce((a, g) => a + (g - mean) ** 2, 0) / (gains.length - 1);
  const statistic = variance > 0 ? mean / Math.sqrt(variance / gains.length) : 0;
  return statistic > DM_CRITICAL ? fitShrinkage(predicted, actual) : 0;
}
