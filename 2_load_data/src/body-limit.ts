import type { Readable } from 'node:stream';
import { HttpError } from '@stocks/common';

/**
 * Pass a streamed request body through, failing with 413 once it exceeds `maxBytes`. Fastify
 * only enforces bodyLimit on bodies it buffers itself; a streamed CSV body is counted here.
 *
 * Stopping early must not destroy the request: that would reset the socket and the client would
 * never see our 413/400. The caller drains the rest (`body.resume()`) and the 413 closes the connection.
 */
export async function* limitBytes(body: Readable, maxBytes: number): AsyncGenerator<Buffer | string> {
  let total = 0;
  for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer | string>) {
    total += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (total > maxBytes) throw tooLarge(maxBytes);
    yield chunk;
  }
}

export function tooLarge(maxBytes: number): HttpError {
  return new HttpError(
    413,
    `CSV body larger than ${maxBytes} bytes (IMPORT_MAX_BYTES); nothing was stored. Split the file or raise the limit.`,
    undefined,
    { connection: 'close' }, // don't read the rest of an oversized upload
  );
}

/** The upload stopped sending for longer than the service waits: cut it, before Postgres would. */
export function stalled(idleMs: number): HttpError {
  return new HttpError(
    408,
    `The CSV body stopped arriving for ${Math.round(idleMs / 1000)} s (IMPORT_IDLE_TIMEOUT_MS); the import was cut and nothing was stored. Send the file in one go.`,
    undefined,
    { connection: 'close' },
  );
}

/**
 * Pass chunks through, but stop waiting for the next one when `signal` aborts (its reason is
 * thrown) or, with `idleMs`, when none arrives for that long (`onIdle()` is thrown). A stalled
 * upload then ends the work that waits on it, whatever the source is doing.
 */
export async function* untilStopped<T>(
  source: AsyncIterable<T>,
  opts: { signal?: AbortSignal; idleMs?: number; onIdle?: () => Error },
): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  const { signal, idleMs } = opts;
  let done = false;
  try {
    for (;;) {
      signal?.throwIfAborted();
      const next = it.next();
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const stop = new Promise<never>((_, reject) => {
        if (idleMs) timer = setTimeout(() => reject(opts.onIdle?.() ?? new Error(`no data for ${idleMs} ms`)), idleMs);
        if (signal) {
          onAbort = () => reject(signal.reason);
          signal.addEventListener('abort', onAbort, { once: true });
        }
      });
      try {
        const r = await Promise.race([next, stop]);
        if (r.done) {
          done = true;
          return;
        }
        yield r.value;
      } finally {
        clearTimeout(timer);
        if (onAbort) signal!.removeEventListener('abort', onAbort);
        next.catch(() => {}); // a source that fails after we stopped waiting is of no interest
      }
    }
  } finally {
    // Tell a finished-with source so (not awaited: a source stuck in a read never answers).
    if (!done) void Promise.resolve(it.return?.()).catch(() => {});
  }
}
