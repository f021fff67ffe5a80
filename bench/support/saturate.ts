/**
 * The load side of bench:serve's saturated row, in a process of its own so that the bench process
 * that samples /health/live times only the server: autocannon keeps `connections` POST /predict
 * requests with one body in flight until told to stop, then reports the answers by status.
 * Messages: { type: 'start', url, body, connections } in; { type: 'done', statuses, connErrors,
 * seconds } out.
 */
import autocannon from 'autocannon';

interface Start { type: 'start'; url: string; body: string; connections: number }

process.once('message', (msg: Start) => {
  const statuses: Record<string, number> = {};
  let connErrors = 0;
  const started = performance.now();
  const instance = autocannon({
    url: msg.url,
    method: 'POST',
    body: msg.body,
    headers: { 'content-type': 'application/json' },
    connections: msg.connections,
    duration: 3600, // until stopped
    timeout: 30,
  }, () => {
    process.send!({ type: 'done', statuses, connErrors, seconds: (performance.now() - started) / 1000 });
    process.disconnect();
  });
  instance.on('response', (_client, status) => { statuses[status] = (statuses[status] ?? 0) + 1; });
  // A shed request (503) closes its connection; autocannon reconnects, sometimes after a reset.
  instance.on('reqError', () => { connErrors++; });
  process.once('message', () => instance.stop());
  process.send!({ type: 'started' });
});
