/**
 * Runs trainModel in a node:worker_threads Worker so an HTTP server's event loop stays responsive
 * while a model trains. One worker per call, terminated afterwards (frees its tfjs memory).
 */
import { Worker } from 'node:worker_threads';
import type { TrainThreadData, TrainThreadMessage } from './train-thread.ts';
import type { BacktestInput, BacktestResult } from './backtest.ts';
import type { TrainInput, TrainResult } from './train.ts';

export class TrainingThreadError extends Error {
  override readonly name = 'TrainingThreadError';
  constructor(
    message: string,
    readonly causeName: string,
    readonly workerStack?: string,
  ) {
    super(message);
  }
}

export interface RunTrainingOptions {
  /** Backend for the worker ('tensorflow' | 'wasm' | 'cpu'); default env TF_BACKEND, then auto. */
  backend?: string;
  /**
   * Aborting terminates the worker thread at once (a fit cannot be interrupted from inside) and
   * rejects with a TrainingAbortedError. Used on graceful shutdown and when the job's lease ends.
   */
  signal?: AbortSignal;
}

/** The run was cancelled through its AbortSignal; `reason` is the signal's reason. */
export class TrainingAbortedError extends Error {
  override readonly name = 'TrainingAbortedError';
  constructor(readonly reason: unknown) {
    super(`training aborted: ${reason instanceof Error ? reason.message : String(reason ?? 'aborted')}`);
  }
}

export async function runTrainingInThread(input: TrainInput, options: RunTrainingOptions = {}): Promise<TrainResult> {
  const message = await runInThread({ input, backend: options.backend }, options.signal);
  if (!('result' in message)) throw new TrainingThreadError('training worker replied without a result', 'WorkerProtocol');
  return message.result;
}

/** A walk-forward backtest (many fits) in a worker thread, like a training. */
export async function runBacktestInThread(input: BacktestInput, options: RunTrainingOptions = {}): Promise<BacktestResult> {
  const message = await runInThread({ task: 'backtest', input, backend: options.backend }, options.signal);
  if (!('backtest' in message)) throw new TrainingThreadError('backtest worker replied without a result', 'WorkerProtocol');
  return message.backtest;
}

type Success = Extract<TrainThreadMessage, { ok: true }>;

function runInThread(data: TrainThreadData, signal?: AbortSignal): Promise<Success> {
  if (signal?.aborted) return Promise.reject(new TrainingAbortedError(signal.reason));
  const worker = startWorker(data);
  return new Promise<Success>((resolve, reject) => {
    let settled = false;
    const onAbort = () => settle(() => reject(new TrainingAbortedError(signal?.reason)));
    const settle = (action: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      action();
      void worker.terminate();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (message: TrainThreadMessage) => {
      if (message.ok) settle(() => resolve(message));
      else settle(() => reject(new TrainingThreadError(message.error.message, message.error.name, message.error.stack)));
    });
    worker.once('error', (err) => settle(() => reject(err)));
    worker.once('exit', (code) => settle(() => reject(new TrainingThreadError(`training worker exited with code ${code} before replying`, 'WorkerExit'))));
  });
}

/** Under tsx the sources are .ts and the worker needs the tsx loader; compiled, the entry is plain .js. */
function runningFromTypeScript(): boolean {
  return import.meta.url.endsWith('.ts');
}

function startWorker(data: TrainThreadData): Worker {
  if (!runningFromTypeScript()) return new Worker(new URL('./train-thread.js', import.meta.url), { workerData: data });
  // `execArgv: ['--import', 'tsx']` does not reliably apply tsx's hooks inside workers on Node 20
  // (the worker fails on the .ts extension or hangs), so a tiny CommonJS bootstrap registers tsx
  // through its API and then imports the .ts entry. tsx is resolved from this package, not the cwd.
  const tsxApi = import.meta.resolve('tsx/esm/api'); // the ESM build (the CJS one mis-resolves here)
  const entry = new URL('./train-thread.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(bootstrap, { eval: true, workerData: data, execArgv: [] });
}
