/** Store a model as a ticker's champion the way a training job does (the trigger on `models` announces it). */
import { type Pool, withTransaction } from '@stocks/common';
import { models } from '@stocks/db';
import type { ModelConfig } from '../../src/model/config.ts';
import type { StoredBands } from '../../src/model/bands/band-schemas.ts';
import type { IntervalModel } from '../../src/model/intervals.ts';
import type { ModelArtifact } from '../../src/model/lstm.ts';
import type { ScalerJSON } from '../../src/model/scaler.ts';

export interface ChampionParts {
  artifact: ModelArtifact;
  scaler: ScalerJSON;
  config: ModelConfig;
  alpha: number;
  intervals?: IntervalModel;
  skill?: number;
}

const errors = { mae: 1, rmse: 1, mape: 1 };

/** `bands`: the version's band models (a TrainResult's `bands`); without them it serves the older volatility intervals. */
export async function storeChampion(pool: Pool, ticker: string, parts: ChampionParts, opts: { bands?: StoredBands } = {}): Promise<number> {
  return withTransaction(pool, async (tx) => {
    const version = await models.insertModelVersion(tx, {
      ticker,
      kind: 'train',
      parent_version: null,
      job_id: null,
      topology: parts.artifact.topology,
      weight_specs: parts.artifact.weightSpecs,
      weights: parts.artifact.weights,
      scaler: parts.scaler,
      config: parts.config as unknown as Record<string, unknown>,
      alpha: parts.alpha,
      metrics: errors,
      baseline: errors,
      evaluation: { skill: parts.skill ?? 0, ...(parts.intervals ? { intervals: parts.intervals } : {}), ...(opts.bands ? { bands: opts.bands } : {}) },
      train_start: '2020-01-01',
      train_end: '2020-12-31',
      validation_start: null,
      validation_end: null,
      epochs: 1,
      final_loss: null,
      duration_ms: 1,
      backend: 'test',
    }, { promote: true, reason: 'stored by a test' });
    return version;
  });
}
