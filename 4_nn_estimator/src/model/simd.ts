/**
 * The gate pre-activations of the compiled LSTM as one WebAssembly SIMD kernel (f32x4), for the
 * hot loop only: z[b, :] = bias + [x_t, h][b, :] · W for a batch of windows, W = [kernel;
 * recurrentKernel] ([nFeatures + units, 4·units], row-major). The gates, the state and the Dense
 * head stay in JavaScript (float64). The module (~200 bytes) is emitted here byte by byte, so no
 * toolchain or binary file is involved; `SimdLstm` is verified against TF.js at load like every
 * compiled path, and the caller keeps the plain-JS pass when SIMD is unavailable or the check fails.
 */
import type { LstmWeights, MovePredictor } from './predictor.ts';

// The WebAssembly global, typed here (the project's lib has no DOM and @types/node 20 declares none).
interface WasmMemory { buffer: ArrayBuffer; grow(pages: number): number }
interface WasmInstance { exports: Record<string, unknown> }
interface WasmModule { readonly __module: unique symbol }
const WA = (globalThis as unknown as {
  WebAssembly?: {
    validate(bytes: Uint8Array): boolean;
    Module: new (bytes: Uint8Array) => WasmModule;
    Instance: new (module: WasmModule, imports: object) => WasmInstance;
  };
}).WebAssembly;

const I32 = 0x7f;
const V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
};
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const name = (s: string) => {
  const bytes = new TextEncoder().encode(s);
  return [...uleb(bytes.length), ...bytes];
};

// Opcodes.
const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const i32c = (v: number) => [0x41, ...sleb(v)];
const ADD = 0x6a;
const MUL = 0x6c;
const SHL = 0x74;
const GE_U = 0x4f;
const brIf = (d: number) => [0x0d, ...uleb(d)];
const br = (d: number) => [0x0c, ...uleb(d)];
const BLOCK = [0x02, 0x40];
const LOOP = [0x03, 0x40];
const END = 0x0b;
const f32load = (offset: number) => [0x2a, 2, ...uleb(offset)];
const v128load = (offset: number) => [0xfd, ...uleb(0x00), 4, ...uleb(offset)];
const v128store = (offset: number) => [0xfd, ...uleb(0x0b), 4, ...uleb(offset)];
const F32X4_SPLAT = [0xfd, ...uleb(0x13)];
const F32X4_ADD = [0xfd, ...uleb(0xe4)];
const F32X4_MUL = [0xfd, ...uleb(0xe6)];

/** gemv(nb, inPtr, wPtr, biasPtr, zPtr, rows, g): for each of nb rows of `in`, z = bias + in·W (16 outputs per pass). */
function kernelModule(): Uint8Array {
  // params 0..6; locals: 7 b, 8 jv (byte offset), 9 k, 10 inRow, 11 wp, 12 zRow, 13 ip, 14 v, 15..18 acc, 19 gBytes
  const [nb, inPtr, wPtr, biasPtr, zPtr, rows, g] = [0, 1, 2, 3, 4, 5, 6];
  const [b, jv, k, inRow, wp, zRow, ip, v, acc, gBytes] = [7, 8, 9, 10, 11, 12, 13, 14, 15, 19];
  const code = [
    ...get(g), ...i32c(2), SHL, ...set(gBytes),
    ...i32c(0), ...set(b),
    ...BLOCK, ...LOOP,
    ...get(b), ...get(nb), GE_U, ...brIf(1),
    ...get(inPtr), ...get(b), ...get(rows), MUL, ...i32c(2), SHL, ADD, ...set(inRow),
    ...get(zPtr), ...get(b), ...get(gBytes), MUL, ADD, ...set(zRow),
    ...i32c(0), ...set(jv),
    ...BLOCK, ...LOOP,
    ...get(jv), ...get(gBytes), GE_U, ...brIf(1),
    ...[0, 1, 2, 3].flatMap((i) => [...get(biasPtr), ...get(jv), ADD, ...v128load(16 * i), ...set(acc + i)]),
    ...get(wPtr), ...get(jv), ADD, ...set(wp),
    ...get(inRow), ...set(ip),
    ...i32c(0), ...set(k),
    ...BLOCK, ...LOOP,
    ...get(k), ...get(rows), GE_U, ...brIf(1),
    ...get(ip), ...f32load(0), ...F32X4_SPLAT, ...set(v),
    ...[0, 1, 2, 3].flatMap((i) => [...get(acc + i), ...get(v), ...get(wp), ...v128load(16 * i), ...F32X4_MUL, ...F32X4_ADD, ...set(acc + i)]),
    ...get(wp), ...get(gBytes), ADD, ...set(wp),
    ...get(ip), ...i32c(4), ADD, ...set(ip),
    ...get(k), ...i32c(1), ADD, ...set(k),
    ...br(0), END, END,
    ...[0, 1, 2, 3].flatMap((i) => [...get(zRow), ...get(jv), ADD, ...get(acc + i), ...v128store(16 * i)]),
    ...get(jv), ...i32c(64), ADD, ...set(jv),
    ...br(0), END, END,
    ...get(b), ...i32c(1), ADD, ...set(b),
    ...br(0), END, END,
    END,
  ];
  const locals = vec([[...uleb(7), I32], [...uleb(5), V128], [...uleb(1), I32]]);
  const body = [...locals, ...code];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec(Array.from({ length: 7 }, () => [I32])), ...vec([])]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, ...uleb(1)]])),
    ...section(7, vec([[...name('gemv'), 0x00, 0], [...name('memory'), 0x02, 0]])),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ]);
}

let compiledModule: WasmModule | null | undefined;

function simdModule(): WasmModule | null {
  if (compiledModule === undefined) {
    const bytes = kernelModule();
    try {
      compiledModule = WA?.validate(bytes) ? new WA.Module(bytes) : null;
    } catch {
      compiledModule = null;
    }
  }
  return compiledModule;
}

/** Windows per kernel call (bounds the scratch memory; the size barely matters for speed). */
const CHUNK = 64;

export class SimdLstm implements MovePredictor {
  readonly engine = 'compiled-simd' as const;
  readonly window: number;
  readonly nFeatures: number;
  private readonly rows: number;
  private readonly g: number;
  private readonly gemv: (nb: number, inPtr: number, wPtr: number, biasPtr: number, zPtr: number, rows: number, g: number) => void;
  private readonly mem: Float32Array;
  private readonly wPtr = 0;
  private readonly biasPtr: number;
  private readonly inPtr: number;
  private readonly zPtr: number;
  private readonly h: Float64Array;
  private readonly c: Float64Array;

  private constructor(private readonly w: LstmWeights, instance: WasmInstance) {
    const { nFeatures: F, units: u } = w;
    this.window = w.window;
    this.nFeatures = F;
    this.rows = F + u;
    this.g = 4 * u;
    const align = (bytes: number) => Math.ceil(bytes / 16) * 16;
    this.biasPtr = align(this.rows * this.g * 4);
    this.inPtr = align(this.biasPtr + this.g * 4);
    this.zPtr = align(this.inPtr + CHUNK * this.rows * 4);
    const end = this.zPtr + CHUNK * this.g * 4;
    const memory = instance.exports.memory as WasmMemory;
    const pages = Math.ceil(end / 65536) - memory.buffer.byteLength / 65536;
    if (pages > 0) memory.grow(pages);
    this.mem = new Float32Array(memory.buffer);
    this.gemv = instance.exports.gemv as SimdLstm['gemv'];
    // W = [kernel; recurrentKernel], row-major [rows, g].
    for (let j = 0; j < this.g; j++) {
      for (let f = 0; f < F; f++) this.mem[f * this.g + j] = w.kernelT[j * F + f]!;
      for (let k = 0; k < u; k++) this.mem[(F + k) * this.g + j] = w.recurrentT[j * u + k]!;
      this.mem[this.biasPtr / 4 + j] = w.bias[j]!;
    }
    this.h = new Float64Array(CHUNK * u);
    this.c = new Float64Array(CHUNK * u);
  }

  /** A SIMD pass for these weights, or undefined (no wasm SIMD here, or 4·units not a multiple of 16). */
  static create(w: LstmWeights): SimdLstm | undefined {
    if ((4 * w.units) % 16 !== 0) return undefined;
    const module = simdModule();
    if (!module || !WA) return undefined;
    return new SimdLstm(w, new WA.Instance(module, {}));
  }

  predictScaled(x: Float32Array, n: number): Float64Array {
    const { window: T, nFeatures: F, rows, g, mem, h, c } = this;
    const u = this.w.units;
    if (x.length !== n * T * F) throw new RangeError(`expected ${n * T * F} inputs for ${n} windows of [${T}, ${F}], got ${x.length}`);
    const { activation: act, recurrentActivation: rec } = this.w;
    const out = new Float64Array(n * this.w.outputs);
    const inBase = this.inPtr / 4;
    const zBase = this.zPtr / 4;
    const row = new Float64Array(u);
    for (let w0 = 0; w0 < n; w0 += CHUNK) {
      const nb = Math.min(CHUNK, n - w0);
      h.fill(0, 0, nb * u);
      c.fill(0, 0, nb * u);
      for (let t = 0; t < T; t++) {
        for (let b = 0; b < nb; b++) {
          const dst = inBase + b * rows;
          const src = ((w0 + b) * T + t) * F;
          for (let f = 0; f < F; f++) mem[dst + f] = x[src + f]!;
          const ho = b * u;
          for (let k = 0; k < u; k++) mem[dst + F + k] = h[ho + k]!;
        }
        this.gemv(nb, this.inPtr, this.wPtr, this.biasPtr, this.zPtr, rows, g);
        for (let b = 0; b < nb; b++) {
          const zo = zBase + b * g;
          const ho = b * u;
          for (let k = 0; k < u; k++) {
            const cv = rec(mem[zo + u + k]!) * c[ho + k]! + rec(mem[zo + k]!) * act(mem[zo + 2 * u + k]!);
            c[ho + k] = cv;
            h[ho + k] = rec(mem[zo + 3 * u + k]!) * act(cv);
          }
        }
      }
      for (let b = 0; b < nb; b++) {
        for (let k = 0; k < u; k++) row[k] = h[b * u + k]!;
        this.w.head(row, out, w0 + b);
      }
    }
    return out;
  }
}
