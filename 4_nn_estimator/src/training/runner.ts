/**
 * Runs trainModel in a node:worker_threads Worker so an HTTP server's event loop stays responsive
 * while a model trains. One warm thread is kept between jobs: starting one (loading the modules
 * and the tfjs backend) costs about a second of CPU, a large share of a small training. A thread
 * is recycled after RECYCLE_AFTER tasks, and terminated on abort or error, so nothing it holds
 * can build up.
 */
import { Worker } from 'node:worker_threads';
import type { BacktestInput, BacktestResult } from '../model/backtest.ts';
import type { TrainInput, TrainResult } from '../model/train.ts';
import type { TrainThreadData, TrainThreadMessage } from './thread.ts';

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

/**
 * Starts the warm thread and loads the tfjs backend in it before any job arrives, so a worker's
 * first job does not pay for them (about a second of CPU, more while other processes boot).
 * Resolves with the backend the thread runs.
 */
export async function prewarmTrainingThread(options: Pick<RunTrainingOptions, 'backend'> = {}): Promise<string> {
  const message = await runInThread({ task: 'warm', backend: options.backend });
  if (!('warm' in message)) throw new TrainingThreadError('training worker replied without warming up', 'WorkerProtocol');
  return message.warm;
}

type Success = Extract<TrainThreadMessage, { ok: true }>;

/** Tasks one thread runs before it is replaced. */
const RECYCLE_AFTER = 50;

interface WarmThread {
  worker: Worker;
  ready: Promise<void>;
  tasks: number;
}

let idleThread: WarmThread | undefined;

function takeThread(): WarmThread {
  const warm = idleThread;
  idleThread = undefined;
  if (warm) {
    warm.worker.ref();
    return warm;
  }
  const worker = startWorker();
  const ready = new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new TrainingThreadError(`training worker exited with code ${code} while starting`, 'WorkerExit')));
  });
  ready.catch(() => {});
  return { worker, ready, tasks: 0 };
}

/** Keep the thread for the next task (unref'd, so an idle thread never keeps the process alive). */
function giveBack(thread: WarmThread): void {
  if (idleThread || thread.tasks >= RECYCLE_AFTER) {
    void thread.worker.terminate();
    return;
  }
  thread.worker.unref();
  idleThread = thread;
}

async function runInThread(data: TrainThreadData, signal?: AbortSignal): Promise<Success> {
  if (signal?.aborted) throw new TrainingAbortedError(signal.reason);
  const thread = takeThread();
  const { worker } = thread;
  return new Promise<Success>((resolve, reject) => {
    let settled = false;
    const onAbort = () => settle(false, () => reject(new TrainingAbortedError(signal?.reason)));
    const onMessage = (message: TrainThreadMessage) => {
      if (message.ok) settle(true, () => resolve(message));
      else settle(true, () => reject(new TrainingThreadError(message.error.message, message.error.name, message.error.stack)));
    };
    const onError = (err: Error) => settle(false, () => reject(err));
    const onExit = (code: number) => settle(false, () => reject(new TrainingThreadError(`training worker exited with code ${code} before replying`, 'WorkerExit')));
    // reusable: the thread answered and can take another task; otherwise it is terminated.
    const settle = (reusable: boolean, action: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      action();
      if (reusable) giveBack(thread);
      else void worker.terminate();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('error', onError).on('exit', onExit);
    thread.ready.then(
      () => {
        if (settled) return;
        thread.tasks++;
        worker.on('message', onMessage);
        worker.postMessage(data);
      },
      (err: Error) => settle(false, () => reject(err)),
    );
  });
}

/** Under tsx the sources are .ts and the worker needs the tsx loader; compiled, the entry is plain .js. */
function runningFromTypeScript(): boolean {
  return import.meta.url.endsWith('.ts');
}

function startWorker(): Worker {
  if (!runningFromTypeScript()) return new Worker(new URL('./thread.js', import.meta.url));
  // `execArgv: ['--import', 'tsx']` does not reliably apply tsx's hooks inside workers on Node 20
  // (the worker fails on the .ts extension or hangs), so a tiny CommonJS bootstrap registers tsx
  // through its API and then imports the .ts entry. tsx is resolved from this package, not the cwd.
  const tsxApi = import.meta.resolve('tsx/esm/api'); // the ESM build (the CJS one mis-resolves here)
  const entry = new URL('./thread.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(bootstrap, { eval: true, execArgv: [] });
}
