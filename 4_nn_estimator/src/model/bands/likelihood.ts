/**
 * Negative log-likelihoods the scale network is trained and chosen with. The Gaussian NLL of a
 * zero-mean return r with variance v is, up to constants, QLIKE (log v + r^2 / v): a loss whose
 * expectation is minimised by the true variance even when returns are heavy-tailed, so a variance
 * fitted with it is consistent; the tails are handled afterwards by conformal quantiles.
 */
import * as tf from '@tensorflow/tfjs';

const HALF_LOG_TWO_PI = 0.5 * Math.log(2 * Math.PI);

/** -log N(r; 0, v). */
export function gaussianNll(r: number, variance: number): number {
  return HALF_LOG_TWO_PI + 0.5 * (Math.log(variance) + (r * r) / variance);
}

/**
 * -log of Student-t density with `dof` degrees of freedom, scaled so that its variance is `variance`
 * (dof > 2): the standardised-t of GARCH-t fits.
 */
export function studentTNll(r: number, variance: number, dof: number): number {
  if (!(dof > 2)) throw new RangeError(`Student-t needs dof > 2 for a finite variance, got ${dof}`);
  const scale2 = (variance * (dof - 2)) / dof;
  return (
    -logGamma((dof + 1) / 2) + logGamma(dof / 2) + 0.5 * Math.log(Math.PI * dof * scale2) + ((dof + 1) / 2) * Math.log1p((r * r) / (dof * scale2))
  );
}

/** Lanczos approximation (g = 7): relative error below 1e-7, plenty for a likelihood. */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61503916999185, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  const z = x - 1;
  let a = c[0] ?? 0;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += (c[i] ?? 0) / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Mean Gaussian NLL over every element of squared returns `r2` and variances `variance` (same shape), as a tensor (for training). */
export function gaussianNllTensor(r2: tf.Tensor, variance: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.add(HALF_LOG_TWO_PI, tf.mul(0.5, tf.mean(tf.add(tf.log(variance), tf.div(r2, variance))))) as tf.Scalar);
}

/** Mean Gaussian NLL over (window, step) pairs, in plain JS (validation and selection). */
export function meanGaussianNll(returns: readonly (readonly number[])[], variances: readonly (readonly number[])[]): number {
  let sum = 0;
  let count = 0;
  returns.forEach((row, w) => {
    const v = variances[w];
    if (!v) throw new RangeError(`no variance row for window ${w}`);
    row.forEach((r, k) => {
      sum += gaussianNll(r, v[k] ?? Number.NaN);
      count++;
    });
  });
  return sum / count;
}
