import { fileURLToPath } from 'node:url';
import pg from 'pg';
import Postgrator from 'postgrator';
import { ensureDatabase } from '@stocks/common';

const MIGRATIONS = fileURLToPath(new URL('../migrations/*.sql', import.meta.url));
// Any constant works; it only has to be the same for every service that migrates.
const MIGRATION_LOCK = 4_242_001;

/**
 * Create the database if missing and apply pending migrations. Services call this at start;
 * an advisory lock makes concurrent starts (several replicas) apply each migration once.
 */
export async function migrate(databaseUrl: string): Promise<{ from: number; to: number }> {
  await ensureDatabase(databaseUrl);
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const postgrator = new Postgrator({
      migrationPattern: MIGRATIONS,
      driver: 'pg',
      database: client.database,
      schemaTable: 'schema_migrations',
      execQuery: (query) => client.query(query),
    });
    const from = Number(await postgrator.getDatabaseVersion());
    await postgrator.migrate();
    const to = Number(await postgrator.getDatabaseVersion());
    return { from, to };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    await client.end();
  }
}
