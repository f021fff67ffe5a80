-- At most one shepherd run at a time across every replica, enforced here rather than by each
-- caller: a second POST /run or an overlapping cron tick answers the running one's id.
-- Runs left 'running' by a dead process are closed first (the shepherd also does it at start).
UPDATE shepherd_runs SET status = 'failed', error = 'abandoned: closed by migration 006', finished_at = now()
 WHERE status = 'running'
   AND id <> (SELECT max(id) FROM shepherd_runs WHERE status = 'running');
CREATE UNIQUE INDEX shepherd_runs_one_running ON shepherd_runs ((true)) WHERE status = 'running';

-- A run in which nothing was done (every ticker skipped: locked by another shepherd) says so.
ALTER TABLE shepherd_runs DROP CONSTRAINT IF EXISTS shepherd_runs_status_check;
ALTER TABLE shepherd_runs ADD CONSTRAINT shepherd_runs_status_check
  CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'skipped'));
