-- Daily bars, one row per ticker and exchange-local date. Upserts key on (ticker, date).
CREATE TABLE prices (
  ticker      text             NOT NULL,
  date        date             NOT NULL,
  open        double precision,
  high        double precision,
  low         double precision,
  close       double precision NOT NULL CHECK (close > 0),
  adj_close   double precision,
  volume      bigint           CHECK (volume IS NULL OR volume >= 0),
  source      text             NOT NULL,
  fetched_at  timestamptz      NOT NULL DEFAULT now(),
  PRIMARY KEY (ticker, date)
);

-- Splits and dividends seen with the prices.
CREATE TABLE corporate_actions (
  ticker      text             NOT NULL,
  date        date             NOT NULL,
  kind        text             NOT NULL CHECK (kind IN ('split', 'dividend')),
  numerator   double precision,
  denominator double precision,
  amount      double precision,
  recorded_at timestamptz      NOT NULL DEFAULT now(),
  PRIMARY KEY (ticker, date, kind)
);

-- Per-ticker flags: a rewritten history (split) asks the estimator for a full retrain.
CREATE TABLE tickers (
  ticker              text PRIMARY KEY,
  history_rewritten_at timestamptz,
  needs_full_retrain   boolean NOT NULL DEFAULT false,
  updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Durable record of every training / fine-tuning request (pg-boss carries the work itself).
CREATE TABLE training_jobs (
  id            uuid PRIMARY KEY,
  kind          text        NOT NULL CHECK (kind IN ('train', 'fine-tune', 'backtest')),
  ticker        text        NOT NULL,
  params        jsonb       NOT NULL DEFAULT '{}',
  status        text        NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  model_version bigint,
  error         text,
  attempts      integer     NOT NULL DEFAULT 0,
  worker        text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  finished_at   timestamptz
);
CREATE INDEX training_jobs_ticker_created ON training_jobs (ticker, created_at DESC);

-- Model versions with their TF.js artifact. Written in one statement at the end of a job,
-- so a crash never leaves a half-written version.
CREATE TABLE models (
  version          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ticker           text        NOT NULL,
  kind             text        NOT NULL CHECK (kind IN ('train', 'fine-tune')),
  parent_version   bigint      REFERENCES models (version),
  job_id           uuid        REFERENCES training_jobs (id),
  status           text        NOT NULL CHECK (status IN ('champion', 'challenger', 'rejected', 'retired')),
  is_champion      boolean     NOT NULL DEFAULT false,
  status_reason    text,
  topology         jsonb       NOT NULL,
  weight_specs     jsonb       NOT NULL,
  weights          bytea       NOT NULL,
  scaler           jsonb       NOT NULL,
  config           jsonb       NOT NULL,
  alpha            double precision NOT NULL DEFAULT 1,
  metrics          jsonb       NOT NULL,
  baseline         jsonb       NOT NULL,
  evaluation       jsonb       NOT NULL DEFAULT '{}',
  train_start      date        NOT NULL,
  train_end        date        NOT NULL,
  validation_start date,
  validation_end   date,
  epochs           integer,
  final_loss       double precision,
  duration_ms      integer,
  backend          text,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX models_ticker_created ON models (ticker, version DESC);
-- At most one champion per ticker, enforced by the database.
CREATE UNIQUE INDEX models_one_champion ON models (ticker) WHERE is_champion;

-- Promotions, rejections and rollbacks, for the audit trail.
CREATE TABLE model_events (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ticker     text        NOT NULL,
  version    bigint      NOT NULL REFERENCES models (version),
  action     text        NOT NULL,
  reason     text,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Every shepherd run and each of its steps.
CREATE TABLE shepherd_runs (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  trigger     text        NOT NULL CHECK (trigger IN ('startup', 'cron', 'manual')),
  status      text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'partial', 'failed')),
  host        text,
  tickers     text[]      NOT NULL,
  error       text,
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);

CREATE TABLE shepherd_steps (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id      bigint      NOT NULL REFERENCES shepherd_runs (id) ON DELETE CASCADE,
  ticker      text        NOT NULL,
  step        text        NOT NULL,
  status      text        NOT NULL CHECK (status IN ('succeeded', 'failed', 'skipped')),
  detail      jsonb       NOT NULL DEFAULT '{}',
  error       text,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shepherd_steps_run ON shepherd_steps (run_id, id);
