-- Walk-forward backtests: the model beside its baselines on the same origins, with interval coverage.
CREATE TABLE backtests (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ticker       text        NOT NULL,
  job_id       uuid        REFERENCES training_jobs (id),
  source       text        NOT NULL DEFAULT 'db',
  params       jsonb       NOT NULL,
  config       jsonb       NOT NULL,
  first_origin date        NOT NULL,
  last_origin  date        NOT NULL,
  n_origins    integer     NOT NULL,
  retrains     integer     NOT NULL,
  aggregates   jsonb       NOT NULL,
  coverage     jsonb       NOT NULL,
  fits         jsonb       NOT NULL DEFAULT '[]',
  per_origin   jsonb       NOT NULL DEFAULT '[]',
  duration_ms  integer     NOT NULL,
  backend      text,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX backtests_ticker_created ON backtests (ticker, id DESC);
CREATE INDEX backtests_job ON backtests (job_id);
