/**
 * `npm run import -- <file-or-folder>...`: stream Yahoo-format CSVs into DATABASE_URL.
 * The ticker is the file name: `AAPL.csv` -> AAPL, `^GSPC.csv` -> ^GSPC. A folder imports every
 * `*.csv` in it (not recursive). Each file is one transaction; one bad file doesn't stop the others,
 * but makes the exit code 1.
 */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { baseEnvSchema, createPool, CsvParseError, loadEnv, redactUrl, TICKER_PATTERN } from '@stocks/common';
import { migrate } from '@stocks/db';
import { importCsv } from './ingest.ts';

const args = process.argv.slice(2).filter((a) => a !== '--');
if (args.length === 0 || args.includes('--help') || args.includes('-h')) {
  console.error('usage: npm run import -- <TICKER.csv | folder>...   (writes to DATABASE_URL)');
  process.exit(args.length === 0 ? 2 : 0);
}

/** The CSV files named on the command line, folders expanded. */
async function expand(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of paths) {
    const info = await stat(p).catch(() => undefined);
    if (!info) throw new Error(`${p}: no such file or folder`);
    if (!info.isDirectory()) files.push(p);
    else {
      const names = (await readdir(p)).filter((n) => n.toLowerCase().endsWith('.csv')).sort();
      if (names.length === 0) console.error(`${p}: no .csv files`);
      files.push(...names.map((n) => path.join(p, n)));
    }
  }
  return files;
}

const env = loadEnv(baseEnvSchema);
let files: string[];
try {
  files = await expand(args);
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
await migrate(env.DATABASE_URL);
const pool = createPool(env.DATABASE_URL, { max: 2, application_name: 'load_data-import' });
console.log(`importing ${files.length} file(s) into ${redactUrl(env.DATABASE_URL)}`);
let failed = 0;
try {
  for (const file of files) {
    const ticker = path.basename(file).replace(/\.csv$/i, '').toUpperCase();
    if (!TICKER_PATTERN.test(ticker)) {
      console.error(`${file}: skipped, "${ticker}" is not a Yahoo symbol (name files <TICKER>.csv)`);
      failed += 1;
      continue;
    }
    const started = performance.now();
    try {
      const r = await importCsv(pool, ticker, createReadStream(file));
      const rejected = Object.entries(r.rejected).map(([k, v]) => `${k}=${v}`).join(' ') || 'none';
      const ms = Math.round(performance.now() - started);
      console.log(`${ticker}: read ${r.read}, stored ${r.stored} (${r.inserted} inserted, ${r.updated} updated), `
        + `${r.first_date ?? '-'}..${r.last_date ?? '-'}, rejected ${rejected}, ${ms} ms`);
    } catch (err) {
      failed += 1;
      const why = err instanceof CsvParseError ? `CSV ${err.message}` : (err as Error).message;
      console.error(`${file}: nothing stored: ${why}`);
    }
  }
} finally {
  await pool.end();
}
process.exitCode = failed ? 1 : 0;
