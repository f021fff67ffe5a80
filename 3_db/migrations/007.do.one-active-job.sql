-- Exactly one queued or running job per (ticker, kind): N concurrent submits insert one row and
-- all answer its id (the route's check-then-act queued several). Older duplicates are closed
-- first; a worker that still fetches one finds it not queued and does not run it.
UPDATE training_jobs j SET status = 'failed', error = 'superseded: a newer job of the same kind and ticker was active', finished_at = now()
 WHERE status IN ('queued', 'running')
   AND EXISTS (SELECT 1 FROM training_jobs n
                WHERE n.ticker = j.ticker AND n.kind = j.kind AND n.status IN ('queued', 'running')
                  AND (n.created_at, n.id) > (j.created_at, j.id));
CREATE UNIQUE INDEX training_jobs_one_active ON training_jobs (ticker, kind) WHERE status IN ('queued', 'running');
