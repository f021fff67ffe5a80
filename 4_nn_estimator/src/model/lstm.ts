/**
 * LSTM(units) -> [Dropout] -> Dense(horizon): direct multi-output regression of the scaled cumulative
 * log returns for steps 1..horizon. Artifact = JSON topology + weight specs + one binary blob, i.e.
 * exactly model.json + weights.bin of the tfjs "layers-model" format (Postgres: jsonb + bytea).
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from './config.ts';

export interface ModelArtifact {
  /** Keras-style model topology (JSON-serialisable). */
  topology: object;
  /** tfjs WeightsManifestEntry[]: name, shape, dtype per weight, in `weights` order. */
  weightSpecs: object[];
  /** Concatenated little-endian weight values (weights.bin). */
  weights: Uint8Array;
}

/** The model.json that, next to `weights.bin`, tf.loadLayersModel('…/model.json') can load. */
export interface LayersModelJson {
  format: 'layers-model';
  generatedBy: string;
  convertedBy: null;
  modelTopology: object;
  weightsManifest: [{ paths: [string]; weights: object[] }];
}

export function buildModel(config: ModelConfig, nFeatures: number): tf.Sequential {
  const model = tf.sequential();
  model.add(
    tf.layers.lstm({
      units: config.units,
      inputShape: [config.window, nFeatures],
      // Seeded initialisers: same seed + same data + same backend => same weights after training.
      kernelInitializer: tf.initializers.glorotUniform({ seed: config.seed }),
      recurrentInitializer: tf.initializers.orthogonal({ seed: config.seed + 1 }),
    }),
  );
  if (config.dropout > 0) model.add(tf.layers.dropout({ rate: config.dropout, seed: config.seed + 2 }));
  model.add(
    tf.layers.dense({
      units: config.horizon,
      kernelInitializer: tf.initializers.glorotUniform({ seed: config.seed + 3 }),
    }),
  );
  return model;
}

/** (Re)compiles with a fresh Adam optimiser; dispose it with `disposeModel`. */
export function compileModel(model: tf.LayersModel, learningRate: number): void {
  model.compile({ optimizer: tf.train.adam(learningRate), loss: 'meanSquaredError' });
}

/** Disposes weights and the optimiser's slot variables (LayersModel.dispose leaves a passed-in optimiser). */
export function disposeModel(model: tf.LayersModel): void {
  const optimizer = (model as { optimizer?: tf.Optimizer }).optimizer;
  model.dispose();
  optimizer?.dispose();
}

export async function serializeModel(model: tf.LayersModel): Promise<ModelArtifact> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!saved?.modelTopology || saved.modelTopology instanceof ArrayBuffer || !saved.weightSpecs || !saved.weightData) {
    throw new Error('model.save produced no JSON topology or weights');
  }
  const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(saved.weightData));
  return { topology: saved.modelTopology, weightSpecs: saved.weightSpecs, weights };
}

export async function deserializeModel(artifact: ModelArtifact): Promise<tf.LayersModel> {
  const { weights } = artifact;
  // Copy out exactly our bytes: a pg Buffer / transferred view may sit inside a larger ArrayBuffer.
  const weightData = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: artifact.topology,
      weightSpecs: artifact.weightSpecs as tf.io.WeightsManifestEntry[],
      weightData,
    }),
  );
}

/** model.json content for exporting the artifact as model.json + `weightsPath`. */
export function toLayersModelJson(artifact: ModelArtifact, weightsPath = 'weights.bin'): LayersModelJson {
  return {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: null,
    modelTopology: artifact.topology,
    weightsManifest: [{ paths: [weightsPath], weights: artifact.weightSpecs }],
  };
}
