/**
 * Nelder-Mead simplex minimisation (Lagarias et al. 1998 coefficients: reflection 1, expansion 2,
 * contraction 0.5, shrink 0.5). Small, derivative-free and deterministic: enough for the four
 * parameters of a GARCH(1,1)-t likelihood. (The npm `fmin` package was the candidate; its
 * published build does not load as an ES module.)
 */
export interface NelderMeadOptions {
  maxIterations?: number;
  /** Stop when the simplex's function values span less than this (absolute)... */
  fTolerance?: number;
  /** ...and its vertices lie within this of the best one (max norm). */
  xTolerance?: number;
  /** Initial simplex step per coordinate (absolute). */
  step?: number;
}

export interface NelderMeadResult { x: number[]; fx: number; iterations: number; converged: boolean }

export function nelderMead(f: (x: readonly number[]) => number, x0: readonly number[], options: NelderMeadOptions = {}): NelderMeadResult {
  const n = x0.length;
  const maxIterations = options.maxIterations ?? 400 * n;
  const fTol = options.fTolerance ?? 1e-9;
  const xTol = options.xTolerance ?? 1e-7;
  const step = options.step ?? 0.25;
  // Non-finite values (outside a likelihood's domain) rank last.
  const value = (x: number[]) => {
    const y = f(x);
    return Number.isFinite(y) ? y : Number.POSITIVE_INFINITY;
  };
  let simplex = [x0.slice()];
  for (let i = 0; i < n; i++) {
    const v = x0.slice();
    v[i] = v[i]! + step;
    simplex.push(v);
  }
  let values = simplex.map(value);
  const along = (from: number[], to: number[], t: number) => from.map((a, i) => a + t * (to[i]! - a));
  let iterations = 0;
  let converged = false;
  for (; iterations < maxIterations; iterations++) {
    const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
    simplex = order.map((i) => simplex[i]!);
    values = order.map((i) => values[i]!);
    const best = simplex[0]!;
    const spread = values[n]! - values[0]!;
    const size = Math.max(...simplex.slice(1).map((v) => Math.max(...v.map((c, i) => Math.abs(c - best[i]!)))));
    if (spread <= fTol && size <= xTol) {
      converged = true;
      break;
    }
    const centroid = Array.from({ length: n }, (_, j) => simplex.slice(0, n).reduce((s, v) => s + v[j]!, 0) / n);
    const worst = simplex[n]!;
    const reflected = along(centroid, worst, -1);
    const fr = value(reflected);
    if (fr < values[0]!) {
      const expanded = along(centroid, worst, -2);
      const fe = value(expanded);
      [simplex[n], values[n]] = fe < fr ? [expanded, fe] : [reflected, fr];
      continue;
    }
    if (fr < values[n - 1]!) {
      [simplex[n], values[n]] = [reflected, fr];
      continue;
    }
    // Contract: outside when the reflection improved on the worst, inside otherwise.
    const outside = fr < values[n]!;
    const contracted = along(centroid, worst, outside ? -0.5 : 0.5);
    const fc = value(contracted);
    if (fc < (outside ? fr : values[n]!)) {
      [simplex[n], values[n]] = [contracted, fc];
      continue;
    }
    for (let i = 1; i <= n; i++) {
      simplex[i] = along(best, simplex[i]!, 0.5);
      values[i] = value(simplex[i]!);
    }
  }
  const i = values.indexOf(Math.min(...values));
  return { x: simplex[i]!, fx: values[i]!, iterations, converged };
}
