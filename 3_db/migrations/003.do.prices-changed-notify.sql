-- Every change to a ticker's prices is announced on the channel `prices_changed` (payload: the
-- ticker), so estimator replicas drop the forecasts they hold in memory for it. Statement-level
-- triggers with a transition table: one notification per distinct ticker per statement, and
-- Postgres folds identical notifications of one transaction into one, delivered at commit.
CREATE FUNCTION notify_prices_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('prices_changed', ticker) FROM (SELECT DISTINCT ticker FROM changed_rows) AS t;
  RETURN NULL;
END
$$;

-- A trigger with a transition table takes one event only, hence three.
CREATE TRIGGER prices_changed_insert AFTER INSERT ON prices
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_prices_changed();
CREATE TRIGGER prices_changed_update AFTER UPDATE ON prices
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_prices_changed();
CREATE TRIGGER prices_changed_delete AFTER DELETE ON prices
  REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_prices_changed();

-- TRUNCATE has no rows to name: '*' means every ticker.
CREATE FUNCTION notify_prices_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('prices_changed', '*');
  RETURN NULL;
END
$$;
CREATE TRIGGER prices_changed_truncate AFTER TRUNCATE ON prices
  FOR EACH STATEMENT EXECUTE FUNCTION notify_prices_truncated();
