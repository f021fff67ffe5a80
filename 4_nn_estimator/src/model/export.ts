/**
 * A stored version as one JSON document a user can load with plain TensorFlow.js:
 *   const { modelJson, weightsBase64, scaler, metadata } = await (await fetch(url)).json();
 *   const weights = Uint8Array.from(Buffer.from(weightsBase64, 'base64')).buffer;
 *   const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology,
 *     weightSpecs: modelJson.weightsManifest[0].weights, weightData: weights }));
 * modelJson is exactly model.json (weights path 'weights.bin'), so writing it and the decoded
 * weights to disk also gives files tf.loadLayersModel('file://…/model.json') reads.
 */
import { FEATURE_NAMES } from './features.ts';
import { toLayersModelJson, type LayersModelJson } from './lstm.ts';

export interface ExportedModel {
  modelJson: Omit<LayersModelJson, 'modelTopology' | 'weightsManifest'> & {
    modelTopology: Record<string, unknown>;
    weightsManifest: Array<{ paths: string[]; weights: Array<Record<string, unknown>> }>;
  };
  weightsBase64: string;
  scaler: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

export interface ExportableRow {
  version: number;
  ticker: string;
  kind: string;
  status: string;
  is_champion: boolean;
  topology: unknown;
  weight_specs: unknown;
  weights: Uint8Array;
  scaler: unknown;
  config: Record<string, unknown>;
  alpha: number;
  evaluation: Record<string, unknown>;
  train_start: string;
  train_end: string;
  validation_start: string | null;
  validation_end: string | null;
  backend: string | null;
}

export function exportModel(row: ExportableRow): ExportedModel {
  const weights = Buffer.from(row.weights.buffer, row.weights.byteOffset, row.weights.byteLength);
  return {
    modelJson: toLayersModelJson({ topology: row.topology as object, weightSpecs: row.weight_specs as object[], weights: row.weights }) as ExportedModel['modelJson'],
    weightsBase64: weights.toString('base64'),
    scaler: row.scaler as Record<string, unknown>,
    metadata: {
      ticker: row.ticker,
      version: row.version,
      kind: row.kind,
      status: row.status,
      champion: row.is_champion,
      config: row.config,
      alpha: row.alpha,
      features: FEATURE_NAMES,
      target: 'cumulative log returns log(close[t+k]/close[t]), k = 1..horizon, scaled by scaler.targetMean/targetStd',
      served_close: 'close[t] * exp(alpha * unscaled_output[k-1])',
      intervals: row.evaluation.intervals ?? null,
      trained_range: { start: row.train_start, end: row.train_end },
      validation_range: { start: row.validation_start, end: row.validation_end },
      backend: row.backend,
    },
  };
}
