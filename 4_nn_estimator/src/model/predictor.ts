/**
 * What the forward passes share: the interface a forecast runs on (TF.js, the compiled pass, the
 * SIMD kernel) and the LSTM weights the compiled pass hands to the SIMD kernel. A file of its own so
 * that compiled.ts and simd.ts depend on it, not on each other.
 */

/** Anything that maps encoded windows [n, window, nFeatures] to the network's scaled outputs [n, outputs]. */
export interface MovePredictor {
  readonly engine: 'compiled' | 'compiled-simd' | 'tfjs';
  /** Scaled network outputs, row-major [n, outputs]. */
  predictScaled(x: Float32Array, n: number): ArrayLike<number>;
}

export interface LstmWeights {
  window: number;
  nFeatures: number;
  units: number;
  /** [4u, nFeatures] */
  kernelT: Float64Array;
  /** [4u, units] */
  recurrentT: Float64Array;
  bias: Float64Array;
  activation: (v: number) => number;
  recurrentActivation: (v: number) => number;
  outputs: number;
  /** Dense head on one final h (float64), writing out[w, :]. */
  head(h: Float64Array, out: Float64Array, w: number): void;
}
