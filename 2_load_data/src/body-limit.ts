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
