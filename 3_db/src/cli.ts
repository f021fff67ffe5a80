import { baseEnvSchema, loadEnv, redactUrl } from '@stocks/common';
import { migrate } from './migrate.ts';

// `npm run migrate`: apply migrations to DATABASE_URL (services also do this on start).
const env = loadEnv(baseEnvSchema);
const { from, to } = await migrate(env.DATABASE_URL);
console.log(`migrated ${redactUrl(env.DATABASE_URL)} from version ${from} to ${to}`);
