import type { FastifyInstance } from 'fastify';

/** Polls GET /runs/:id until the run is no longer running; throws if it is still running after `attempts` polls. */
export async function waitForRun(app: FastifyInstance, id: number, { attempts = 1200, intervalMs = 100 } = {}): Promise<any> {
  for (let i = 0; i < attempts; i++) {
    const run = (await app.inject(`/runs/${id}`)).json();
    if (run.status !== 'running') return run;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`run ${id} did not finish`);
}
