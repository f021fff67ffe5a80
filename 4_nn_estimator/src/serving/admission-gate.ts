/**
 * At most `capacity` POST /predict requests are worked on at once. One past that waits, without its
 * body being read, for a slot to free up, at most `waitMs`; then it is admitted or shed.
 *
 * Why wait instead of shedding at once: a client that retries a shed request straight away (most
 * do, whatever Retry-After says) turned an immediate 503 into a reconnect storm: hundreds of new
 * connections queued for accept() ahead of a container health check's own, which then took
 * seconds. Held for up to `waitMs`, a flooding client is paced to one attempt per wait, while a
 * short burst is served after a short queue instead of failing.
 */
export interface AdmissionGate {
  /** Resolves true with a slot taken (call `release` once done), false once `waitMs` passed without one. */
  enter(): Promise<boolean>;
  release(): void;
  readonly inFlight: number;
  readonly waiting: number;
}

export function createAdmissionGate(capacity: number, waitMs: number): AdmissionGate {
  let inFlight = 0;
  // FIFO of waiters; a waiter whose time ran out is marked and skipped when a slot frees.
  const queue: Array<{ admit: () => void; done: boolean }> = [];
  let waiting = 0;
  return {
    get inFlight() { return inFlight; },
    get waiting() { return waiting; },
    enter() {
      if (inFlight < capacity) {
        inFlight++;
        return Promise.resolve(true);
      }
      if (waitMs <= 0) return Promise.resolve(false);
      return new Promise<boolean>((resolve) => {
        waiting++;
        const entry = {
          done: false,
          admit: () => { entry.done = true; waiting--; clearTimeout(timer); resolve(true); },
        };
        const timer = setTimeout(() => { entry.done = true; waiting--; resolve(false); }, waitMs);
        queue.push(entry);
      });
    },
    release() {
      // The slot passes straight to the oldest live waiter, so inFlight never exceeds capacity.
      while (queue.length > 0) {
        const next = queue.shift()!;
        if (!next.done) { next.admit(); return; }
      }
      inFlight--;
    },
  };
}
