/**
 * Helpers the fault tests share: polling with a bounded deadline (never a blind sleep), the small
 * model every test trains, and a raw HTTP request whose body is sent in two halves (an in-flight
 * request across a signal).
 */
import http from 'node:http';

/** Small, fast hyper-parameters: fault tests check what survives, not model quality. */
export const SMALL_MODEL = { TRAIN_EPOCHS: '1', MODEL_WINDOW: '20', MODEL_UNITS: '8', TRAIN_MAX_BARS: '400' } as const;

/** Poll `probe` until it returns a value other than undefined/false, or fail after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 60_000, intervalMs = 100, describe }: { timeoutMs?: number; intervalMs?: number; describe?: () => string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last error: ${(lastError as Error).message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}${describe ? `\n${describe()}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** fetch with a hard deadline: a request that hangs fails the test instead of the test hanging. */
export async function timedFetch(url: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<{ status: number; body: any; ms: number }> {
  const started = Date.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs ?? 15_000) });
  const text = await res.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON (e.g. /metrics) */
  }
  return { status: res.status, body, ms: Date.now() - started };
}

/**
 * Start a JSON POST, send its headers and the first half of the body, and return a function that
 * sends the rest and resolves with the answer: the request is "in flight" in between.
 */
export function halfSentPost(url: string, body: unknown): Promise<{ finish(): Promise<{ status: number; body: any }> }> {
  const payload = Buffer.from(JSON.stringify(body));
  const u = new URL(url);
  return new Promise((resolveStarted, rejectStarted) => {
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': payload.length },
    });
    const answer = new Promise<{ status: number; body: any }>((resolve, reject) => {
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { text += d; });
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
          } catch (err) {
            reject(err);
          }
        });
      });
      req.on('error', reject);
    });
    answer.catch(() => {}); // observed by finish()
    req.write(payload.subarray(0, payload.length >> 1), (err) => {
      if (err) return rejectStarted(err);
      resolveStarted({
        finish: async () => {
          req.end(payload.subarray(payload.length >> 1));
          return answer;
        },
      });
    });
  });
}

/**
 * INITIAL_HISTORY_YEARS reaching back to 2021 from today: the fixture CSVs end on 2023-12-29, so a
 * fixed number of years would load nothing once the calendar moves on. About three years of bars.
 */
export const HISTORY_SINCE_2021 = String(Math.max(1, new Date().getUTCFullYear() - 2021));
