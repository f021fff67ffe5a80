import * as tf from '@tensorflow/tfjs';
import { type Pool, promClient, type Registry } from '@stocks/common';
import { jobs } from '@stocks/db';
import { TickerSeries, type TickerSelection } from './ticker-series.ts';

export type EstimatorMetrics = ReturnType<typeof createEstimatorMetrics>;

/**
 * Gauges about models and jobs are read from Postgres on scrape, so every replica reports the
 * same truth instead of what it happened to do itself. Per-ticker series are bounded by `series`.
 */
export function createEstimatorMetrics(registry: Registry, pool: Pool, series: TickerSeries = new TickerSeries(pool, Number.POSITIVE_INFINITY)) {
  const r = [registry];
  // Per-ticker gauges show the selected tickers only (TickerSeries: pinned, then those needing
  // attention); each collect starts from empty so a ticker leaving the selection leaves the scrape.
  const perTicker = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (gauge: promClient.Gauge<L>, selection: TickerSelection) => void) =>
    new promClient.Gauge<L>({
      name, help, labelNames, registers: r,
      async collect() {
        const selection = await series.select();
        this.reset();
        fill(this, selection);
      },
    });
  /** A per-ticker gauge set on events (a training, a champion load), shown for the selected tickers. */
  const perTickerEvents = (name: string, help: string) => {
    const values = new Map<string, number>();
    perTicker(name, help, ['ticker'] as const, (gauge, { tickers }) => {
      for (const [ticker, value] of values) if (tickers.has(ticker)) gauge.set({ ticker }, value);
    });
    return { set: ({ ticker }: { ticker: string }, value: number) => void values.set(ticker, value) };
  };
  const selected = (selection: TickerSelection) => selection.champions.filter((c) => selection.tickers.has(c.ticker));
  const m = {
    jobsFinished: new promClient.Counter({ name: 'training_jobs_total', help: 'Finished training jobs by kind and status', labelNames: ['kind', 'status'] as const, registers: r }),
    jobs: new promClient.Gauge({
      name: 'training_jobs', help: 'Training jobs by status (queued|running)', labelNames: ['status'] as const, registers: r,
      async collect() {
        const counts = await jobs.countJobsByStatus(pool).catch(() => []);
        for (const status of ['queued', 'running'] as const) {
          this.set({ status }, counts.filter((c) => c.status === status).reduce((sum, c) => sum + c.count, 0));
        }
      },
    }),
    trainingDuration: new promClient.Histogram({ name: 'training_duration_seconds', help: 'Wall time of a training job', labelNames: ['kind'] as const, buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800], registers: r }),
    finalLoss: perTickerEvents('training_final_loss', 'Final training loss of the newest version trained by this process (selected tickers)'),
    championVersion: perTicker('model_champion_version', 'Champion model version per ticker (selected tickers; model_champions counts all)', ['ticker'] as const, (gauge, sel) => {
      for (const c of selected(sel)) gauge.set({ ticker: c.ticker }, c.version);
    }),
    validationMae: perTicker('model_validation_mae', 'Validation MAE of the champion and of naive on the same window (selected tickers)', ['ticker', 'model'] as const, (gauge, sel) => {
      for (const c of selected(sel)) {
        gauge.set({ ticker: c.ticker, model: 'champion' }, c.mae);
        gauge.set({ ticker: c.ticker, model: 'naive' }, c.naive_mae);
      }
    }),
    validationMape: perTicker('model_validation_mape', 'Validation MAPE (%) of the champion and of naive (selected tickers)', ['ticker', 'model'] as const, (gauge, sel) => {
      for (const c of selected(sel)) {
        gauge.set({ ticker: c.ticker, model: 'champion' }, c.mape);
        gauge.set({ ticker: c.ticker, model: 'naive' }, c.naive_mape);
      }
    }),
    skill: perTicker('model_skill_vs_naive', '1 - champion MAE / naive MAE on validation; below 0 is worse than naive (selected tickers)', ['ticker'] as const, (gauge, sel) => {
      for (const c of selected(sel)) if (c.naive_mae > 0) gauge.set({ ticker: c.ticker }, 1 - c.mae / c.naive_mae);
    }),
    champions: new promClient.Gauge({
      name: 'model_champions', help: 'Tickers with a champion model (all of them, whether they have per-ticker series or not)', registers: r,
      async collect() { this.set((await series.select()).champions.length); },
    }),
    flagged: new promClient.Gauge({
      name: 'tickers_flagged', help: 'Champions flagged, by reason (returns_drift, live_worse_than_naive, validation_worse_than_naive), over every ticker',
      labelNames: ['reason'] as const, registers: r,
      async collect() {
        const { flagged } = await series.select();
        for (const [reason, count] of Object.entries(flagged)) this.set({ reason }, count);
      },
    }),
    tickerSeries: new promClient.Gauge({
      name: 'metrics_ticker_series', help: 'Champions with per-ticker series in this scrape (exported) and without (omitted; METRICS_TICKER_SERIES_MAX)',
      labelNames: ['state'] as const, registers: r,
      async collect() {
        const selection = await series.select();
        this.set({ state: 'exported' }, selection.champions.length - selection.omitted);
        this.set({ state: 'omitted' }, selection.omitted);
      },
    }),
    forecasts: new promClient.Counter({ name: 'forecast_requests_total', help: 'Forecasts answered by endpoint and outcome', labelNames: ['endpoint', 'outcome'] as const, registers: r }),
    cacheHits: new promClient.Counter({ name: 'forecast_cache_hits_total', help: 'Forecasts answered from memory', registers: r }),
    cacheMisses: new promClient.Counter({ name: 'forecast_cache_misses_total', help: 'Forecasts that had to be computed', registers: r }),
    forecastBatches: new promClient.Counter({ name: 'forecast_batches_total', help: 'Forward passes run for POST /predict micro-batches', registers: r }),
    forecastBatchSize: new promClient.Histogram({ name: 'forecast_batch_size', help: 'Requests per POST /predict micro-batch', buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers: r }),
    inferenceEngine: new promClient.Counter({
      name: 'forecast_engine_loads_total', help: 'Champions loaded, by the engine that serves them (compiled, or tfjs after a failed or impossible check)',
      labelNames: ['engine', 'reason'] as const, registers: r,
    }),
    compiledMaxDiff: perTickerEvents('forecast_compiled_max_abs_diff', 'Max abs difference compiled vs TF.js at the last load of the ticker\'s champion (selected tickers)'),
    backendInfo: new promClient.Gauge({ name: 'tfjs_backend_info', help: 'TensorFlow.js backend in use (value 1)', labelNames: ['backend'] as const, registers: r }),
    numTensors: new promClient.Gauge({
      name: 'tfjs_num_tensors', help: 'Live TensorFlow.js tensors in this process (a leak grows it)', registers: r,
      collect() { this.set(tf.memory().numTensors); },
    }),
  };
  // Start every known series at 0 so the first failure is an increase() alerts can see.
  for (const engine of ['compiled', 'tfjs']) m.inferenceEngine.inc({ engine, reason: engine === 'compiled' ? 'verified' : 'check_failed' }, 0);
  for (const kind of ['train', 'fine-tune', 'backtest']) for (const status of ['succeeded', 'failed']) m.jobsFinished.inc({ kind, status }, 0);
  return m;
}
