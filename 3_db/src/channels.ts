/**
 * The Postgres NOTIFY channels the database announces changes on, named once. Triggers send them
 * (migrations 003 and 005, whose SQL spells the same names; a test holds the two together), so no
 * caller has to remember to; services LISTEN with these constants.
 */
export const CHANNELS = {
  /** Payload: the ticker whose champion was crowned, retired or edited; '*' after a TRUNCATE. */
  championChanged: 'champion_changed',
  /** Payload: the ticker whose prices were written; '*' after a TRUNCATE. */
  pricesChanged: 'prices_changed',
} as const;

export type Channel = (typeof CHANNELS)[keyof typeof CHANNELS];
