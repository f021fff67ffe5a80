import { createPool, listen, listenHost, redactUrl } from '@stocks/common';
import { migrate } from '@stocks/db';
import { buildApp } from './app.ts';
import { loadLoadDataEnv } from './config.ts';

const env = loadLoadDataEnv();
await migrate(env.DATABASE_URL);
const pool = createPool(env.DATABASE_URL, { application_name: 'load_data' });
const app = await buildApp({ env, pool });
app.log.info({ database: redactUrl(env.DATABASE_URL) }, 'database migrated');
await listen(app, env.PORT, listenHost(env), () => pool.end());
