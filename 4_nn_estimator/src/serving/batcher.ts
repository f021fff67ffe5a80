/**
 * Adaptive micro-batching: items submitted while the event loop is busy are run together as one
 * batch. An item that arrives when nothing is pending is run at the end of the current event-loop
 * turn (setImmediate: no timer, so a lone request waits ~0 ms); under load, everything that was
 * parsed in the same I/O turn joins it, so batches grow with concurrency. `maxBatch` bounds a batch
 * (a full batch runs at once) and `maxWaitMs` bounds how long an item may wait behind a batch that
 * is still running (asynchronous runners).
 */
export interface BatcherOptions {
  maxBatch?: number;
  maxWaitMs?: number;
  /** Called once per batch run (metrics). */
  onBatch?: (size: number) => void;
}

interface Pending<I, O> {
  item: I;
  resolve(value: O): void;
  reject(err: unknown): void;
}

/** `run` returns one result per item, in order; a result that is an Error rejects only its item. */
export type BatchRunner<I, O> = (items: I[]) => Array<O | Error> | Promise<Array<O | Error>>;

export class MicroBatcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private scheduled: NodeJS.Immediate | NodeJS.Timeout | undefined;
  private running = 0;
  readonly maxBatch: number;
  readonly maxWaitMs: number;

  constructor(private readonly runner: BatchRunner<I, O>, private readonly options: BatcherOptions = {}) {
    this.maxBatch = options.maxBatch ?? 64;
    this.maxWaitMs = options.maxWaitMs ?? 2;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.flush();
      else this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    // Idle: run at the end of this turn. Busy (a batch in flight): give more items a moment to join.
    this.scheduled = this.running === 0 ? setImmediate(() => this.flush()) : setTimeout(() => this.flush(), this.maxWaitMs);
  }

  private clearSchedule(): void {
    const s = this.scheduled;
    if (!s) return;
    // Each with its own clear function: clearImmediate on a Timeout corrupts Node's immediate queue.
    if ('refresh' in s) clearTimeout(s as NodeJS.Timeout);
    else clearImmediate(s as NodeJS.Immediate);
    this.scheduled = undefined;
  }

  private flush(): void {
    this.clearSchedule();
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      void this.runBatch(batch);
    }
  }

  private async runBatch(batch: Pending<I, O>[]): Promise<void> {
    this.running++;
    this.options.onBatch?.(batch.length);
    try {
      const results = await this.runner(batch.map((p) => p.item));
      batch.forEach((p, i) => {
        const r = results[i];
        if (r instanceof Error) p.reject(r);
        else if (r === undefined && results.length <= i) p.reject(new Error('batch runner returned too few results'));
        else p.resolve(r as O);
      });
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      this.running--;
      if (this.queue.length > 0 && !this.scheduled) this.schedule();
    }
  }
}
