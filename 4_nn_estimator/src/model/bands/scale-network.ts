/**
 * The scale network: standardised volatility features x -> log daily variances for steps 1..H,
 * reverting from a near-term level s(x) to a longer-run level m(x) at a learned rate rho:
 *   log dailyVar_j / ref = m + (s - m) * rho^(j-1),     var(r_{t,k}) = ref * sum_{j<=k} exp(o_j).
 * [s, m] = x W_skip + tanh(x W1 + b1) W2 + b (a linear HAR-like path plus a small hidden layer).
 * The cumulative variance grows with k by construction (bands never narrow with the horizon), and a
 * volatility spike decays back to the longer-run level instead of being carried for weeks.
 *
 * Trained in TF.js with the Gaussian NLL (QLIKE) over every (origin, step) of the training windows,
 * full-batch Adam with early stopping on validation; served in plain JS from the stored weights.
 */
import * as tf from '@tensorflow/tfjs';
import { at } from '../features.ts';
import { mulberry32 } from '../random.ts';
import { gaussianNllTensor } from './likelihood.ts';

export interface ScaleNetworkWeights {
  nFeatures: number;
  hidden: number;
  /** Row-major [nFeatures, hidden], [hidden], [hidden, 2], [nFeatures, 2], [2]. */
  w1: number[];
  b1: number[];
  w2: number[];
  wSkip: number[];
  b: number[];
  rhoLogit: number;
}

export interface ScaleTrainingOptions {
  hidden: number;
  l2: number;
  learningRate: number;
  maxEpochs: number;
  /** Validation checks (every CHECK_EVERY epochs) without improvement before stopping. */
  patience: number;
  seed: number;
  /**
   * Linear-path starting point and prior: [s, m] = x wSkip + b before any training (e.g. the EWMA
   * forecast reverting to a slower average); l2 pulls wSkip back towards it, and early stopping can keep it.
   */
  start?: Pick<ScaleNetworkWeights, 'wSkip' | 'b'>;
}

/** Samples: standardised features [n, nFeatures] and squared cumulative returns / ref [n, horizon]. */
export interface ScaleSamples {
  x: Float32Array;
  r2: Float32Array;
  n: number;
  nFeatures: number;
  horizon: number;
}

export interface ScaleFit {
  weights: ScaleNetworkWeights;
  trainNll: number;
  validationNll: number;
  epochs: number;
  bestEpoch: number;
}

const CHECK_EVERY = 10;
/** log daily variance / ref is clipped here: e^8 ~ 3000x the long-run variance is no forecast. */
const LOG_VARIANCE_LIMIT = 8;

export function initialWeights(nFeatures: number, hidden: number, seed: number): ScaleNetworkWeights {
  const random = mulberry32(seed);
  const uniform = (n: number, limit: number) => Array.from({ length: n }, () => (2 * random() - 1) * limit);
  return {
    nFeatures,
    hidden,
    w1: uniform(nFeatures * hidden, Math.sqrt(6 / (nFeatures + hidden || 1))),
    b1: new Array<number>(hidden).fill(0),
    w2: new Array<number>(hidden * 2).fill(0),
    wSkip: uniform(nFeatures * 2, 0.05),
    b: [0, 0],
    rhoLogit: Math.log(0.95 / 0.05),
  };
}

/** Plain-JS forward pass: log daily variances relative to ref, steps 1..horizon, for one feature row. */
export function logDailyVariances(weights: ScaleNetworkWeights, x: ArrayLike<number>, horizon: number): number[] {
  const { nFeatures, hidden, w1, b1, w2, wSkip, b } = weights;
  const out = [at(b, 0), at(b, 1)];
  for (let f = 0; f < nFeatures; f++) {
    const xf = at(x, f);
    out[0] = at(out, 0) + xf * at(wSkip, f * 2);
    out[1] = at(out, 1) + xf * at(wSkip, f * 2 + 1);
  }
  for (let u = 0; u < hidden; u++) {
    let a = at(b1, u);
    for (let f = 0; f < nFeatures; f++) a += at(x, f) * at(w1, f * hidden + u);
    const h = Math.tanh(a);
    out[0] = at(out, 0) + h * at(w2, u * 2);
    out[1] = at(out, 1) + h * at(w2, u * 2 + 1);
  }
  const [s, m] = [at(out, 0), at(out, 1)];
  const rho = 1 / (1 + Math.exp(-weights.rhoLogit));
  return Array.from({ length: horizon }, (_, j) => clipLog(m + (s - m) * rho ** j));
}

/** Cumulative variances sum_{j<=k} exp(o_j) * ref, k = 1..horizon. */
export function cumulativeVariances(weights: ScaleNetworkWeights, x: ArrayLike<number>, horizon: number, referenceVariance: number): number[] {
  let sum = 0;
  return logDailyVariances(weights, x, horizon).map((o) => (sum += Math.exp(o) * referenceVariance));
}

function clipLog(o: number): number {
  return Math.max(-LOG_VARIANCE_LIMIT, Math.min(LOG_VARIANCE_LIMIT, o));
}

interface Variables {
  w1?: tf.Variable;
  b1?: tf.Variable;
  w2?: tf.Variable;
  wSkip: tf.Variable;
  b: tf.Variable;
  rhoLogit: tf.Variable;
}

/** A variable holding `initial`'s values; the initial tensor itself is freed (the variable keeps the data). */
function variableOf(initial: tf.Tensor): tf.Variable {
  const v = tf.variable(initial);
  initial.dispose();
  return v;
}

function toVariables(w: ScaleNetworkWeights): Variables {
  const vars: Variables = {
    wSkip: variableOf(tf.tensor2d(w.wSkip, [w.nFeatures, 2])),
    b: variableOf(tf.tensor1d(w.b)),
    rhoLogit: variableOf(tf.scalar(w.rhoLogit)),
  };
  if (w.hidden > 0) {
    vars.w1 = variableOf(tf.tensor2d(w.w1, [w.nFeatures, w.hidden]));
    vars.b1 = variableOf(tf.tensor1d(w.b1));
    vars.w2 = variableOf(tf.tensor2d(w.w2, [w.hidden, 2]));
  }
  return vars;
}

function readVariables(vars: Variables, nFeatures: number, hidden: number): ScaleNetworkWeights {
  const values = (v: tf.Variable | undefined) => (v ? Array.from(v.dataSync()) : []);
  return {
    nFeatures,
    hidden,
    w1: values(vars.w1),
    b1: values(vars.b1),
    w2: values(vars.w2),
    wSkip: values(vars.wSkip),
    b: values(vars.b),
    rhoLogit: at(vars.rhoLogit.dataSync(), 0),
  };
}

/** Cumulative variance (relative to ref) [n, horizon] as a tensor: the same maths as cumulativeVariances. */
function cumulativeVarianceTensor(vars: Variables, x: tf.Tensor2D, horizon: number): tf.Tensor2D {
  let levels = tf.add(tf.matMul(x, vars.wSkip), vars.b) as tf.Tensor2D;
  if (vars.w1 && vars.b1 && vars.w2) levels = tf.add(levels, tf.matMul(tf.tanh(tf.add(tf.matMul(x, vars.w1), vars.b1)), vars.w2));
  const [s, m] = tf.split(levels, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
  const steps = tf.range(0, horizon).reshape([1, horizon]);
  const decay = tf.exp(tf.mul(steps, tf.logSigmoid(vars.rhoLogit)));
  const logDaily = tf.clipByValue(tf.add(m, tf.mul(tf.sub(s, m), decay)), -LOG_VARIANCE_LIMIT, LOG_VARIANCE_LIMIT);
  return tf.cumsum(tf.exp(logDaily), 1) as tf.Tensor2D;
}

/** L2 on the hidden layer and on the linear path's distance from its starting point (the prior model). */
function penalty(vars: Variables, skipPrior: tf.Tensor): tf.Scalar {
  const terms = [tf.sum(tf.square(tf.sub(vars.wSkip, skipPrior)))];
  for (const v of [vars.w1, vars.w2]) if (v) terms.push(tf.sum(tf.square(v)));
  return tf.addN(terms) as tf.Scalar;
}

/**
 * Full-batch Adam on the training samples; every CHECK_EVERY epochs the validation NLL is measured
 * and the best weights kept (early stopping restores them). Deterministic: seeded initial weights,
 * no shuffling, no dropout.
 */
export function trainScaleNetwork(train: ScaleSamples, validation: ScaleSamples, options: ScaleTrainingOptions): ScaleFit {
  const horizon = train.horizon;
  const start = { ...initialWeights(train.nFeatures, options.hidden, options.seed), ...options.start };
  const vars = toVariables(start);
  const skipPrior = tf.tensor2d(start.wSkip, [train.nFeatures, 2]);
  const optimizer = tf.train.adam(options.learningRate);
  const tensors = tf.tidy(() => ({
    xTrain: tf.tensor2d(train.x, [train.n, train.nFeatures]),
    r2Train: tf.tensor2d(train.r2, [train.n, horizon]),
    xVal: tf.tensor2d(validation.x, [validation.n, validation.nFeatures]),
    r2Val: tf.tensor2d(validation.r2, [validation.n, horizon]),
  }));
  const nll = (x: tf.Tensor2D, r2: tf.Tensor2D) => gaussianNllTensor(r2, cumulativeVarianceTensor(vars, x, horizon));
  const measure = (x: tf.Tensor2D, r2: tf.Tensor2D) => tf.tidy(() => at(nll(x, r2).dataSync(), 0));
  try {
    let best = { nll: measure(tensors.xVal, tensors.r2Val), epoch: 0, weights: readVariables(vars, train.nFeatures, options.hidden) };
    let epoch = 0;
    while (epoch < options.maxEpochs) {
      for (let i = 0; i < CHECK_EVERY; i++, epoch++) {
        tf.tidy(() => {
          optimizer.minimize(() => tf.add(nll(tensors.xTrain, tensors.r2Train), tf.mul(options.l2, penalty(vars, skipPrior))) as tf.Scalar);
        });
      }
      const validationNll = measure(tensors.xVal, tensors.r2Val);
      if (!Number.isFinite(validationNll)) break;
      if (validationNll < best.nll - 1e-6) best = { nll: validationNll, epoch, weights: readVariables(vars, train.nFeatures, options.hidden) };
      else if (epoch - best.epoch >= options.patience * CHECK_EVERY) break;
    }
    assignWeights(vars, best.weights);
    return { weights: best.weights, trainNll: measure(tensors.xTrain, tensors.r2Train), validationNll: best.nll, epochs: epoch, bestEpoch: best.epoch };
  } finally {
    optimizer.dispose();
    tf.dispose([tensors.xTrain, tensors.r2Train, tensors.xVal, tensors.r2Val, skipPrior]);
    tf.dispose(Object.values(vars));
  }
}

function assignWeights(vars: Variables, w: ScaleNetworkWeights): void {
  tf.tidy(() => {
    vars.wSkip.assign(tf.tensor2d(w.wSkip, [w.nFeatures, 2]));
    vars.b.assign(tf.tensor1d(w.b));
    vars.rhoLogit.assign(tf.scalar(w.rhoLogit));
    if (vars.w1 && vars.b1 && vars.w2) {
      vars.w1.assign(tf.tensor2d(w.w1, [w.nFeatures, w.hidden]));
      vars.b1.assign(tf.tensor1d(w.b1));
      vars.w2.assign(tf.tensor2d(w.w2, [w.hidden, 2]));
    }
  });
}
