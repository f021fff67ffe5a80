-- Every forecast served for a future date, stored once per (ticker, model version, origin, target),
-- and its realised error once the actual close of the target date is loaded.
CREATE TABLE served_forecasts (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ticker        text             NOT NULL,
  model_version bigint           NOT NULL,
  made_at       timestamptz      NOT NULL DEFAULT now(),
  -- last stored bar the forecast was made from (the origin) and the day it forecasts
  origin_date   date             NOT NULL,
  target_date   date             NOT NULL,
  step          integer          NOT NULL CHECK (step >= 1),
  value         double precision NOT NULL,
  -- the naive forecast made at the same time: the origin's close
  naive_value   double precision NOT NULL,
  lower80       double precision,
  upper80       double precision,
  lower95       double precision,
  upper95       double precision,
  -- filled by the trigger below when the target date's close is loaded (or corrected)
  actual        double precision,
  realised_at   timestamptz,
  abs_error       double precision GENERATED ALWAYS AS (abs(value - actual)) STORED,
  naive_abs_error double precision GENERATED ALWAYS AS (abs(naive_value - actual)) STORED,
  UNIQUE (ticker, model_version, origin_date, target_date)
);
CREATE INDEX served_forecasts_target ON served_forecasts (ticker, target_date);

-- Realise served forecasts whose target date just got its close: one UPDATE per statement that
-- wrote prices (statement-level trigger with a transition table, cheap for bulk loads).
CREATE FUNCTION realise_served_forecasts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE served_forecasts f
     SET actual = p.close, realised_at = now()
    FROM written_prices p
   WHERE f.ticker = p.ticker AND f.target_date = p.date AND f.actual IS DISTINCT FROM p.close;
  RETURN NULL;
END
$$;

CREATE TRIGGER prices_realise_forecasts_insert AFTER INSERT ON prices
  REFERENCING NEW TABLE AS written_prices FOR EACH STATEMENT EXECUTE FUNCTION realise_served_forecasts();
CREATE TRIGGER prices_realise_forecasts_update AFTER UPDATE ON prices
  REFERENCING NEW TABLE AS written_prices FOR EACH STATEMENT EXECUTE FUNCTION realise_served_forecasts();
