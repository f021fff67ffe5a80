/** The replica's ears: one LISTEN connection on which Postgres announces new champions and prices. */
import pg from 'pg';
import type { FastifyBaseLogger } from 'fastify';
import { CHANNELS } from '@stocks/db';

export interface ChangeHandlers {
  /** A champion crowned, retired or edited (trigger on `models`, migration 005; '*' after a TRUNCATE). */
  champion(ticker: string): void;
  /** New or changed prices (trigger on `prices`, migration 003; '*' after a TRUNCATE). */
  prices(ticker: string): void;
  /** (Re)connected: notifications sent while we were away are lost, so drop everything. */
  reset(): void;
  /** The connection is gone: memory can no longer be trusted until `reset`. */
  lost?(): void;
}

/** Several subscribers to one listener, each told of every change in turn. */
export function allOf(...subscribers: ChangeHandlers[]): ChangeHandlers {
  return {
    champion: (ticker) => subscribers.forEach((h) => h.champion(ticker)),
    prices: (ticker) => subscribers.forEach((h) => h.prices(ticker)),
    reset: () => subscribers.forEach((h) => h.reset()),
    lost: () => subscribers.forEach((h) => h.lost?.()),
  };
}

export interface ChangeListener {
  /** True while LISTENing: only then is an in-memory forecast known to be current. */
  readonly connected: boolean;
  close(): Promise<void>;
}

/**
 * LISTEN for promotions and price changes on one dedicated connection, reconnecting after errors
 * (Postgres restart). Every replica runs one, so each drops what a NOTIFY says is stale.
 */
export function listenForChanges(databaseUrl: string, handlers: ChangeHandlers, log: FastifyBaseLogger): ChangeListener {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  const connect = async () => {
    if (closed) return;
    const c = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000, application_name: 'nn_estimator_listener' });
    c.on('notification', (msg) => {
      if (!msg.payload) return;
      if (msg.channel === CHANNELS.championChanged) {
        log.info({ ticker: msg.payload }, 'champion changed; dropping cached model and forecasts');
        handlers.champion(msg.payload);
      } else if (msg.channel === CHANNELS.pricesChanged) {
        log.debug({ ticker: msg.payload }, 'prices changed; dropping cached forecasts');
        handlers.prices(msg.payload);
      }
    });
    c.on('error', (err) => {
      log.warn({ err }, 'change listener lost its connection; reconnecting');
      if (client === c) client = undefined;
      handlers.lost?.();
      void c.end().catch(() => {});
      schedule();
    });
    c.on('end', () => {
      if (client === c) {
        client = undefined;
        handlers.lost?.();
        schedule();
      }
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANNELS.championChanged}; LISTEN ${CHANNELS.pricesChanged}`);
      if (closed) {
        await c.end().catch(() => {});
        return;
      }
      client = c;
      handlers.reset();
    } catch (err) {
      log.warn({ err }, 'change listener could not connect; retrying');
      void c.end().catch(() => {});
      schedule();
    }
  };
  const schedule = () => {
    if (closed || retry) return;
    retry = setTimeout(() => { retry = undefined; void connect(); }, 2_000);
    retry.unref();
  };
  void connect();
  return {
    get connected() {
      return client !== undefined;
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}
