/**
 * Per-column standardisation for features and for each horizon step's target. Fitted on the
 * training windows only, so validation statistics never leak into the model.
 */
import { at } from './features.ts';

export interface ScalerJSON {
  version: 1;
  featureMean: number[];
  featureStd: number[];
  targetMean: number[];
  targetStd: number[];
}

/** A column with (near) zero variance is only centred, not divided by ~0. */
const MIN_STD = 1e-8;

export class StandardScaler {
  constructor(
    readonly featureMean: readonly number[],
    readonly featureStd: readonly number[],
    readonly targetMean: readonly number[],
    readonly targetStd: readonly number[],
  ) {}

  /** `featureRows` row-major [n, nFeatures]; `targetRows` row-major [m, horizon]. */
  static fit(featureRows: ArrayLike<number>, nFeatures: number, targetRows: ArrayLike<number>, horizon: number): StandardScaler {
    const features = columnMoments(featureRows, nFeatures);
    const targets = columnMoments(targetRows, horizon);
    return new StandardScaler(features.mean, features.std, targets.mean, targets.std);
  }

  get nFeatures(): number {
    return this.featureMean.length;
  }

  get horizon(): number {
    return this.targetMean.length;
  }

  scaleFeature(value: number, column: number): number {
    return (value - at(this.featureMean, column)) / at(this.featureStd, column);
  }

  scaleTarget(value: number, step: number): number {
    return (value - at(this.targetMean, step)) / at(this.targetStd, step);
  }

  unscaleTarget(value: number, step: number): number {
    return value * at(this.targetStd, step) + at(this.targetMean, step);
  }

  toJSON(): ScalerJSON {
    return {
      version: 1,
      featureMean: [...this.featureMean],
      featureStd: [...this.featureStd],
      targetMean: [...this.targetMean],
      targetStd: [...this.targetStd],
    };
  }

  static fromJSON(json: ScalerJSON): StandardScaler {
    const columns = [json.featureMean, json.featureStd, json.targetMean, json.targetStd];
    if (json.version !== 1 || !columns.every((c) => Array.isArray(c) && c.every(Number.isFinite))) {
      throw new TypeError('invalid scaler JSON');
    }
    if (json.featureMean.length !== json.featureStd.length || json.targetMean.length !== json.targetStd.length) {
      throw new TypeError('invalid scaler JSON: mean/std length mismatch');
    }
    return new StandardScaler(json.featureMean, json.featureStd, json.targetMean, json.targetStd);
  }
}

function columnMoments(rows: ArrayLike<number>, nColumns: number): { mean: number[]; std: number[] } {
  const nRows = rows.length / nColumns;
  if (!Number.isInteger(nRows) || nRows < 1) throw new RangeError(`cannot fit a scaler on ${rows.length} values in ${nColumns} columns`);
  const mean = new Array<number>(nColumns).fill(0);
  const squares = new Array<number>(nColumns).fill(0);
  for (let r = 0; r < nRows; r++) {
    for (let c = 0; c < nColumns; c++) mean[c] = at(mean, c) + at(rows, r * nColumns + c) / nRows;
  }
  for (let r = 0; r < nRows; r++) {
    for (let c = 0; c < nColumns; c++) squares[c] = at(squares, c) + (at(rows, r * nColumns + c) - at(mean, c)) ** 2 / nRows;
  }
  const std = squares.map((s) => (Math.sqrt(s) < MIN_STD ? 1 : Math.sqrt(s)));
  return { mean, std };
}
