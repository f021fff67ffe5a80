-- Band scores of a backtest: per step, coverage / interval score / QLIKE of the served bands beside
-- static, EWMA and GARCH(1,1)-t bands, with Diebold-Mariano p-values. NULL for backtests stored
-- before bands were scored.
ALTER TABLE backtests ADD COLUMN bands jsonb;
ALTER TABLE backtests ADD CONSTRAINT backtests_bands_shape
  CHECK (bands IS NULL OR (jsonb_typeof(bands) = 'object' AND jsonb_typeof(bands -> 'per_step') = 'array'));
