-- Every change to a ticker's champion is announced on the channel `champion_changed` (payload: the
-- ticker), however it is written: a training job's promotion, a manual promote or rollback, or a
-- plain SQL fix. Estimator replicas then drop the model and the forecasts they hold for it.
-- A row counts when it is or was a champion, so an in-place edit of the champion (its alpha, its
-- weights) is announced too. Postgres folds identical notifications of one transaction into one,
-- delivered at commit (a promotion retires one row and crowns another: one notification).
CREATE FUNCTION notify_champion_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('champion_changed', CASE WHEN TG_OP = 'DELETE' THEN OLD.ticker ELSE NEW.ticker END);
  IF TG_OP = 'UPDATE' AND OLD.ticker IS DISTINCT FROM NEW.ticker THEN
    PERFORM pg_notify('champion_changed', OLD.ticker);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER champion_changed_insert AFTER INSERT ON models
  FOR EACH ROW WHEN (NEW.is_champion) EXECUTE FUNCTION notify_champion_changed();
CREATE TRIGGER champion_changed_update AFTER UPDATE ON models
  FOR EACH ROW WHEN (OLD.is_champion OR NEW.is_champion) EXECUTE FUNCTION notify_champion_changed();
CREATE TRIGGER champion_changed_delete AFTER DELETE ON models
  FOR EACH ROW WHEN (OLD.is_champion) EXECUTE FUNCTION notify_champion_changed();

-- TRUNCATE has no rows to name: '*' means every ticker.
CREATE FUNCTION notify_champions_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('champion_changed', '*');
  RETURN NULL;
END
$$;
CREATE TRIGGER champion_changed_truncate AFTER TRUNCATE ON models
  FOR EACH STATEMENT EXECUTE FUNCTION notify_champions_truncated();
