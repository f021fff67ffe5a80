/**
 * Worker-thread entry: trains models off the main event loop. The thread stays warm between jobs
 * (its modules and tfjs backend load once); each message is one task, answered by one message with
 * the result (weights buffer transferred, not copied) or the error.
 */
import { parentPort } from 'node:worker_threads';
import { initBackend, isBackendName } from './backend.ts';
import { runBacktest, type BacktestInput, type BacktestResult } from '../model/backtest.ts';
import { trainModel, type TrainInput, type TrainResult } from '../model/train.ts';

export type TrainThreadData =
  | { task?: 'train'; input: TrainInput; backend?: string }
  | { task: 'backtest'; input: BacktestInput; backend?: string }
  | { task: 'warm'; backend?: string };

export type TrainThreadMessage =
  | { ok: true; result: TrainResult }
  | { ok: true; warm: string }
  | { ok: true; backtest: BacktestResult }
  | { ok: false; error: { name: string; message: string; stack?: string } };

const port = parentPort;
if (!port) throw new Error('training/thread.ts must run in a worker thread');
port.on('message', (data: TrainThreadData) => void runTask(data));
// Tell the parent the thread is ready for tasks.
port.postMessage({ ready: true });

async function runTask(data: TrainThreadData): Promise<void> {
  if (!port) return;
  try {
    const preferred = data.backend ?? process.env.TF_BACKEND;
    const backend = await initBackend(isBackendName(preferred) ? preferred : undefined);
    if (data.task === 'warm') {
      port.postMessage({ ok: true, warm: backend } satisfies TrainThreadMessage);
      return;
    }
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
