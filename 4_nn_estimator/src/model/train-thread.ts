/**
 * Worker-thread entry: trains one model off the main event loop. Receives a TrainInput as
 * workerData, initialises its own tfjs backend (TF_BACKEND or workerData.backend), posts back one
 * message with the result (weights buffer transferred, not copied) or the error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend, isBackendName } from './backend.ts';
import { runBacktest, type BacktestInput, type BacktestResult } from './backtest.ts';
import { trainModel, type TrainInput, type TrainResult } from './train.ts';

export type TrainThreadData =
  | { task?: 'train'; input: TrainInput; backend?: string }
  | { task: 'backtest'; input: BacktestInput; backend?: string };

export type TrainThreadMessage =
  | { ok: true; result: TrainResult }
  | { ok: true; backtest: BacktestResult }
  | { ok: false; error: { name: string; message: string; stack?: string } };

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('train-thread.ts must run in a worker thread');
  const data = workerData as TrainThreadData;
  try {
    const preferred = data.backend ?? process.env.TF_BACKEND;
    await initBackend(isBackendName(preferred) ? preferred : undefined);
    if (data.task === 'backtest') {
      const backtest = await runBacktest(data.input);
      port.postMessage({ ok: true, backtest } satisfies TrainThreadMessage);
      return;
    }
    const result = await trainModel(data.input);
    const message: TrainThreadMessage = { ok: true, result };
    port.postMessage(message, [result.artifact.weights.buffer as ArrayBuffer]);
  } catch (err) {
    const error = err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : { name: 'Error', message: String(err) };
    const message: TrainThreadMessage = { ok: false, error };
    port.postMessage(message);
  }
}

await main();
