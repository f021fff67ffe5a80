/**
 * The champion's forward pass on plain typed arrays: LSTM -> [Dropout] -> Dense, read from the
 * TF.js model's own weights. TF.js dispatches ~1,700 kernels for one 60-step window; this is a
 * few hundred thousand multiply-adds in one tight loop, with no tensors to leak.
 *
 * It reproduces tfjs-layers semantics (layers/recurrent.js LSTMCell.call, "implementation 2"):
 *   z = x_t·kernel + h·recurrentKernel + bias, split into 4 blocks of `units` in the order i, f, c, o;
 *   i = recAct(z_i), f = recAct(z_f), c = f∘c + i∘act(z_c), o = recAct(z_o), h = o∘act(c);
 * the last h goes through Dense: y = act(h·kernel + bias). Dropout is the identity at inference.
 * Activations come from the layer config (tfjs' LSTM default recurrent activation is hardSigmoid,
 * clip(0.2x + 0.5, 0, 1), not Keras 2's sigmoid). Anything else (GRU, stacked LSTMs, masking,
 * return_sequences, an unknown activation) is not compiled: `compileModel` returns a reason and
 * the caller keeps TF.js.
 *
 * Arithmetic is float64 over the float32 weights, so the result is at least as accurate as TF.js'
 * float32 kernels; `verifyCompiled` checks the agreement on real and random windows at load.
 */
import * as tf from '@tensorflow/tfjs';
import type { LstmWeights, MovePredictor } from './predictor.ts';
import { mulberry32 } from './random.ts';

type Activation = (v: number) => number;

const ACTIVATIONS: Record<string, Activation> = {
  linear: (v) => v,
  tanh: Math.tanh,
  sigmoid: (v) => 1 / (1 + Math.exp(-v)),
  hardSigmoid: (v) => {
    const y = 0.2 * v + 0.5;
    return y <= 0 ? 0 : y >= 1 ? 1 : y;
  },
  relu: (v) => (v > 0 ? v : 0),
};

interface DenseWeights {
  /** Transposed: [outputs, inputs] row-major. */
  kernelT: Float64Array;
  bias: Float64Array;
  inputs: number;
  outputs: number;
  activation: Activation;
}

export class CompiledLstm implements MovePredictor {
  readonly engine = 'compiled' as const;
  readonly outputs: number;
  private readonly g: number; // 4 * units
  private readonly z: Float64Array;
  private readonly h: Float64Array;
  private readonly c: Float64Array;
  private readonly buffers: Float64Array[];
  private readonly z4: Float64Array;
  private readonly h4: Float64Array;
  private readonly c4: Float64Array;

  constructor(
    readonly window: number,
    readonly nFeatures: number,
    readonly units: number,
    /** LSTM kernel transposed: [4u, nFeatures]. */
    private readonly kernelT: Float64Array,
    /** LSTM recurrent kernel transposed: [4u, u]. */
    private readonly recurrentT: Float64Array,
    private readonly bias: Float64Array, // [4u]
    private readonly activation: Activation,
    private readonly recurrentActivation: Activation,
    private readonly dense: DenseWeights[],
  ) {
    this.g = 4 * units;
    this.outputs = dense.length ? dense[dense.length - 1]!.outputs : units;
    this.z = new Float64Array(this.g);
    this.h = new Float64Array(units);
    this.c = new Float64Array(units);
    this.buffers = dense.map((d) => new Float64Array(d.outputs));
    this.z4 = new Float64Array(4 * this.g);
    this.h4 = new Float64Array(4 * units);
    this.c4 = new Float64Array(4 * units);
  }

  /** The weights and the head, for the SIMD kernel (model/simd.ts). */
  weights(): LstmWeights {
    return {
      window: this.window, nFeatures: this.nFeatures, units: this.units, kernelT: this.kernelT, recurrentT: this.recurrentT, bias: this.bias,
      activation: this.activation, recurrentActivation: this.recurrentActivation, outputs: this.outputs,
      head: (h, out, w) => this.head(h, 0, out, w),
    };
  }

  /** Bytes held by the weights (for the memory budget). */
  get weightBytes(): number {
    return 8 * (this.kernelT.length + this.recurrentT.length + this.bias.length + this.dense.reduce((s, d) => s + d.kernelT.length + d.bias.length, 0));
  }

  predictScaled(x: Float32Array, n: number): Float64Array {
    const { window: T, nFeatures: F } = this;
    if (x.length !== n * T * F) throw new RangeError(`expected ${n * T * F} inputs for ${n} windows of [${T}, ${F}], got ${x.length}`);
    const out = new Float64Array(n * this.outputs);
    let w = 0;
    // Four windows at a time: each recurrent weight is loaded once for four multiply-adds (~2x faster).
    for (; w + 4 <= n; w += 4) this.forward4(x, w, out);
    for (; w < n; w++) this.forward1(x, w, out);
    return out;
  }

  private forward1(x: Float32Array, w: number, out: Float64Array): void {
    const { window: T, nFeatures: F, units: u, g, kernelT: KT, recurrentT: RT, bias, z, h, c, activation: act, recurrentActivation: rec } = this;
    h.fill(0);
    c.fill(0);
    for (let t = 0; t < T; t++) {
      const xBase = (w * T + t) * F;
      // z_j = bias_j + x_t·kernel[:, j] + h·recurrentKernel[:, j], as dot products over the
      // transposed weights (one accumulator per output; four partial sums for the long one).
      for (let j = 0; j < g; j++) {
        let s0 = bias[j]!;
        const kr = j * F;
        for (let f = 0; f < F; f++) s0 += x[xBase + f]! * KT[kr + f]!;
        const rr = j * u;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        let k = 0;
        for (; k + 3 < u; k += 4) {
          s0 += h[k]! * RT[rr + k]!;
          s1 += h[k + 1]! * RT[rr + k + 1]!;
          s2 += h[k + 2]! * RT[rr + k + 2]!;
          s3 += h[k + 3]! * RT[rr + k + 3]!;
        }
        for (; k < u; k++) s0 += h[k]! * RT[rr + k]!;
        z[j] = s0 + s1 + s2 + s3;
      }
      this.gates(z, 0, h, c, 0, act, rec);
    }
    this.head(h, 0, out, w);
  }

  private forward4(x: Float32Array, w: number, out: Float64Array): void {
    const { window: T, nFeatures: F, units: u, g, kernelT: KT, recurrentT: RT, bias, activation: act, recurrentActivation: rec } = this;
    const { z4: z, h4: h, c4: c } = this;
    h.fill(0);
    c.fill(0);
    const u2 = 2 * u;
    const u3 = 3 * u;
    for (let t = 0; t < T; t++) {
      const x0 = (w * T + t) * F;
      const x1 = x0 + T * F;
      const x2 = x1 + T * F;
      const x3 = x2 + T * F;
      for (let j = 0; j < g; j++) {
        const b = bias[j]!;
        let a0 = b;
        let a1 = b;
        let a2 = b;
        let a3 = b;
        const kr = j * F;
        for (let f = 0; f < F; f++) {
          const kv = KT[kr + f]!;
          a0 += x[x0 + f]! * kv;
          a1 += x[x1 + f]! * kv;
          a2 += x[x2 + f]! * kv;
          a3 += x[x3 + f]! * kv;
        }
        const rr = j * u;
        for (let k = 0; k < u; k++) {
          const r = RT[rr + k]!;
          a0 += h[k]! * r;
          a1 += h[u + k]! * r;
          a2 += h[u2 + k]! * r;
          a3 += h[u3 + k]! * r;
        }
        z[j] = a0;
        z[g + j] = a1;
        z[2 * g + j] = a2;
        z[3 * g + j] = a3;
      }
      for (let b = 0; b < 4; b++) this.gates(z, b * g, h, c, b * u, act, rec);
    }
    for (let b = 0; b < 4; b++) this.head(h.subarray(b * u, (b + 1) * u), 0, out, w + b);
  }

  /** i, f, c, o gate blocks of z (at zo) -> new c and h (at ho). */
  private gates(z: Float64Array, zo: number, h: Float64Array, c: Float64Array, ho: number, act: Activation, rec: Activation): void {
    const u = this.units;
    for (let k = 0; k < u; k++) {
      const cv = rec(z[zo + u + k]!) * c[ho + k]! + rec(z[zo + k]!) * act(z[zo + 2 * u + k]!);
      c[ho + k] = cv;
      h[ho + k] = rec(z[zo + 3 * u + k]!) * act(cv);
    }
  }

  /** Dense layers on the last h -> out[w, :]. */
  private head(h: Float64Array, ho: number, out: Float64Array, w: number): void {
    let input: Float64Array = ho === 0 ? h : h.subarray(ho);
    for (let l = 0; l < this.dense.length; l++) {
      const d = this.dense[l]!;
      const y = this.buffers[l]!;
      for (let j = 0; j < d.outputs; j++) {
        let s = d.bias[j]!;
        const row = j * d.inputs;
        for (let k = 0; k < d.inputs; k++) s += input[k]! * d.kernelT[row + k]!;
        y[j] = d.activation(s);
      }
      input = y;
    }
    out.set(input.subarray(0, this.outputs), w * this.outputs);
  }
}

/** TF.js `model.predict` behind the same interface (the fallback, and the reference). */
export class TfjsPredictor implements MovePredictor {
  readonly engine = 'tfjs' as const;
  constructor(private readonly model: tf.LayersModel, private readonly window: number) {}

  predictScaled(x: Float32Array, n: number): Float32Array {
    const nFeatures = x.length / (n * this.window);
    return tf.tidy(() => {
      const output = this.model.predict(tf.tensor3d(x, [n, this.window, nFeatures]), { batchSize: 512 }) as tf.Tensor;
      return output.dataSync() as Float32Array;
    });
  }
}

interface LayerLike {
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  getWeights(): tf.Tensor[];
}

function activationOf(name: unknown): Activation | undefined {
  return typeof name === 'string' ? ACTIVATIONS[name] : undefined;
}

function weightsOf(layer: LayerLike): Float64Array[] {
  // getWeights() returns the variables' own tensors: read them, never dispose them.
  return layer.getWeights().map((t) => Float64Array.from(t.dataSync()));
}

/** A compiled forward pass of `model`, or the reason it cannot be compiled. */
export function compileModel(model: tf.LayersModel, window: number): CompiledLstm | { unsupported: string } {
  const layers = (model.layers as unknown as LayerLike[]).filter((l) => l.getClassName() !== 'InputLayer');
  const [lstm, ...rest] = layers;
  if (!lstm || lstm.getClassName() !== 'LSTM') return { unsupported: `first layer is ${lstm?.getClassName() ?? 'missing'}, not LSTM` };
  const cfg = lstm.getConfig();
  if (cfg.returnSequences || cfg.returnState || cfg.goBackwards || cfg.stateful) return { unsupported: 'LSTM with returnSequences/returnState/goBackwards/stateful' };
  const act = activationOf(cfg.activation);
  const rec = activationOf(cfg.recurrentActivation);
  if (!act || !rec) return { unsupported: `LSTM activation ${String(cfg.activation)}/${String(cfg.recurrentActivation)}` };
  const units = Number(cfg.units);
  const [kernel, recurrentKernel, bias = new Float64Array(4 * units)] = weightsOf(lstm);
  if (!kernel || !recurrentKernel || recurrentKernel.length !== units * 4 * units || kernel.length % (4 * units) !== 0) {
    return { unsupported: 'unexpected LSTM weight shapes' };
  }
  const nFeatures = kernel.length / (4 * units);
  const dense: DenseWeights[] = [];
  let inputs = units;
  for (const layer of rest) {
    const name = layer.getClassName();
    if (name === 'Dropout') continue;
    if (name !== 'Dense') return { unsupported: `layer ${name} after the LSTM` };
    const dc = layer.getConfig();
    const activation = activationOf(dc.activation);
    if (!activation) return { unsupported: `Dense activation ${String(dc.activation)}` };
    const outputs = Number(dc.units);
    const [k, b = new Float64Array(outputs)] = weightsOf(layer);
    if (!k || k.length !== inputs * outputs || b.length !== outputs) return { unsupported: 'unexpected Dense weight shapes' };
    dense.push({ kernelT: transpose(k, inputs, outputs), bias: b, inputs, outputs, activation });
    inputs = outputs;
  }
  return new CompiledLstm(window, nFeatures, units, transpose(kernel, nFeatures, 4 * units), transpose(recurrentKernel, units, 4 * units), bias, act, rec, dense);
}

/** [rows, cols] row-major -> [cols, rows] row-major. */
function transpose(m: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c]!;
  return t;
}

export interface VerifyResult {
  ok: boolean;
  maxAbsDiff: number;
  windows: number;
}

/**
 * Runs `compiled` and TF.js on the same windows and compares every output. `realWindows` are
 * encoded windows of the ticker's own history; random ones (seeded, scaled-feature range ±3σ)
 * cover the rest of the input space.
 */
export function verifyCompiled(compiled: MovePredictor & { window: number; nFeatures: number }, model: tf.LayersModel, realWindows: Float32Array | undefined, options: { random?: number; tolerance?: number; seed?: number } = {}): VerifyResult {
  const { random = 16, tolerance = 1e-5, seed = 1 } = options;
  const per = compiled.window * compiled.nFeatures;
  const nReal = realWindows ? realWindows.length / per : 0;
  const n = nReal + random;
  const x = new Float32Array(n * per);
  if (realWindows) x.set(realWindows);
  const rand = mulberry32(seed);
  for (let i = nReal * per; i < x.length; i++) x[i] = (rand() * 2 - 1) * 3;
  const expected = new TfjsPredictor(model, compiled.window).predictScaled(x, n);
  const actual = compiled.predictScaled(x, n); // batched: groups of four, then single windows
  let maxAbsDiff = expected.length === actual.length ? 0 : Infinity;
  const compare = (a: number, b: number) => {
    const d = Math.abs(a - b);
    if (!(d <= maxAbsDiff)) maxAbsDiff = Number.isNaN(d) ? Infinity : d;
  };
  for (let i = 0; i < expected.length; i++) compare(expected[i]!, actual[i]!);
  // ...and one window alone (what a lone request runs).
  const single = compiled.predictScaled(x.subarray(0, per), 1);
  for (let i = 0; i < single.length; i++) compare(expected[i]!, single[i]!);
  return { ok: maxAbsDiff <= tolerance, maxAbsDiff, windows: n };
}

