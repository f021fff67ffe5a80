/**
 * One autocannon load of `seconds` after a 1 s warm-up (JIT, connections, caches), with exact
 * per-response latencies (autocannon's own histogram rounds to whole ms). `paths`, when given, are
 * requested round robin across every connection (a load spread over many tickers).
 */
import autocannon from 'autocannon';

export interface LoadResult { rps: number; p50: number; p99: number; requests: number; errors: number }

export interface LoadOptions {
  connections: number;
  seconds: number;
  method?: 'GET' | 'POST';
  body?: string;
  paths?: readonly string[];
}

export const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

export async function httpLoad(url: string, opts: LoadOptions): Promise<LoadResult> {
  const { paths } = opts;
  let next = 0;
  const run = (duration: number) => new Promise<{ result: autocannon.Result; latencies: number[] }>((resolve, reject) => {
    const latencies: number[] = [];
    const instance = autocannon({
      url, connections: opts.connections, duration, method: opts.method ?? 'GET', body: opts.body,
      headers: opts.body ? { 'content-type': 'application/json' } : {},
      ...(paths ? { requests: [{ method: opts.method ?? 'GET', setupRequest: (req: autocannon.Request) => ({ ...req, path: paths[next++ % paths.length]! }) }] } : {}),
    }, (err, result) => (err ? reject(err) : resolve({ result, latencies })));
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status === 200) latencies.push(ms);
    });
  });
  await run(1);
  const { result, latencies } = await run(opts.seconds);
  latencies.sort((a, b) => a - b);
  return {
    rps: result.requests.total / (result.duration || opts.seconds),
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    requests: result.requests.total,
    errors: result.errors + result.non2xx + result.timeouts,
  };
}
