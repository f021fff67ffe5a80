/** A JSON call to another service of the suite failed. */
export class ServiceCallError extends Error {
  constructor(
    readonly url: string,
    readonly status: number | undefined,
    readonly body: unknown,
    message: string,
  ) {
    super(message);
  }
}

export interface CallOptions {
  method?: 'GET' | 'POST';
  body?: unknown;
  requestId?: string;
  token?: string;
  timeoutMs?: number;
  /** Gives up the call when it aborts (the caller's unit of work ended). */
  signal?: AbortSignal;
}

/** Call another service with a timeout and the caller's request id, so logs line up across services. */
export async function callJson<T>(baseUrl: string, path: string, opts: CallOptions = {}): Promise<T> {
  const url = new URL(path, baseUrl).toString();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.requestId) headers['x-request-id'] = opts.requestId;
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: opts.signal
        ? AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs ?? 120_000)])
        : AbortSignal.timeout(opts.timeoutMs ?? 120_000),
    });
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw new ServiceCallError(url, undefined, undefined, `${url} unreachable: ${(err as Error).message}`);
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* keep text */
  }
  if (!res.ok) {
    const message = (body as { message?: string } | undefined)?.message ?? text.slice(0, 200);
    throw new ServiceCallError(url, res.status, body, `${url} answered ${res.status}: ${message}`);
  }
  return body as T;
}
