/**
 * Streaming reader of Yahoo-format daily CSV, on csv-parse (RFC 4180: quoted fields, escaped
 * quotes, BOM, CRLF or LF line ends, mixed within a file).
 *
 * Accepts the classic Yahoo/yfinance header `Date,Open,High,Low,Close,Adj Close,Volume` and the
 * lowercase variant `date,open,high,low,close,adjclose,volume` (vega-datasets). Columns are matched
 * by name (case-insensitive, spaces/underscores ignored), so order and extra columns don't matter;
 * only `Date` and `Close` are required.
 *
 * Handles a trailing newline, blank lines, Yahoo's literal `null` and empty fields (both become
 * null). A malformed line is a `CsvParseError` carrying its 1-based line number: importing a
 * half-broken file silently would hide data loss. Numbers with thousands separators (`"1,234.5"`)
 * are refused with a message that says so, rather than read as another number.
 *
 * The input is streamed (csv-parse is a stream.Transform): only a chunk and the record being
 * read are held, so it works on a fs.createReadStream or an HTTP request body of any size.
 */
import { Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import type { DailyBar } from './bars.ts';

/** One data line as read: like DailyBar but `close` may be null (Yahoo writes all-`null` rows). */
export interface ParsedRow {
  /** 1-based line number in the input (the header is line 1). */
  line: number;
  date: string;
  open: number | null;
  high: number | null;
  low: number | null;
  close: number | null;
  adj_close: number | null;
  volume: number | null;
}

export type CsvInput = AsyncIterable<string | Buffer | Uint8Array> | string;

export class CsvParseError extends Error {
  override readonly name = 'CsvParseError';
  constructor(readonly line: number, detail: string) {
    super(`line ${line}: ${detail}`);
  }
}

type Field = 'date' | 'open' | 'high' | 'low' | 'close' | 'adj_close' | 'volume';
type NumericField = Exclude<Field, 'date'>;
const NUMERIC_FIELDS: readonly NumericField[] = ['open', 'high', 'low', 'close', 'adj_close', 'volume'];

/** Normalised header name -> field. */
const HEADER_ALIASES: Record<string, Field> = {
  date: 'date',
  open: 'open',
  high: 'high',
  low: 'low',
  close: 'close',
  adjclose: 'adj_close',
  volume: 'volume',
};

interface Layout {
  columns: number;
  index: Partial<Record<Field, number>>;
}

/** `YYYY-MM-DD`, optionally followed by a time (yfinance sometimes writes `2015-01-02 00:00:00-05:00`). */
const DATE_PREFIX = /^(\d{4})-(\d{2})-(\d{2})(?:[ T].*)?$/;
const NULL_TOKENS = new Set(['', 'null', 'nan']);

export async function* parseYahooCsv(input: CsvInput): AsyncGenerator<ParsedRow> {
  const parser = parse({
    bom: true,
    record_delimiter: ['\r\n', '\n'],
    relax_column_count: true, // counted below, with a message that names the line
    skip_empty_lines: true,
    trim: true,
    info: true,
  });
  const source = Readable.from(typeof input === 'string' ? [input] : input);
  source.on('error', (err) => parser.destroy(err));
  source.pipe(parser);
  let layout: Layout | undefined;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      const line = info.lines;
      if (record.length === 1 && record[0] === '') continue; // a line of spaces
      if (!layout) {
        layout = parseHeader(record, line);
        continue;
      }
      yield parseRow(record, line, layout);
    }
  } catch (err) {
    if (err instanceof CsvError) throw new CsvParseError(lineOf(err), err.message.replace(/^Invalid \w+: /, ''));
    throw err;
  } finally {
    source.destroy();
    parser.destroy();
  }
  if (!layout) throw new CsvParseError(1, 'empty input, expected a header like Date,Open,High,Low,Close,Adj Close,Volume');
}

/** The 1-based line csv-parse stopped at. */
function lineOf(err: CsvError): number {
  const lines = (err as unknown as { lines?: unknown }).lines;
  return typeof lines === 'number' && lines > 0 ? lines : 1;
}

function parseHeader(names: readonly string[], line: number): Layout {
  const index: Partial<Record<Field, number>> = {};
  names.forEach((raw, i) => {
    const field = HEADER_ALIASES[raw.replace(/[\s_]/g, '').toLowerCase()];
    if (field && index[field] === undefined) index[field] = i;
  });
  for (const required of ['date', 'close'] as const) {
    if (index[required] === undefined) {
      throw new CsvParseError(line, `header has no ${required === 'date' ? 'Date' : 'Close'} column: ${JSON.stringify(names.join(','))}`);
    }
  }
  return { columns: names.length, index };
}

function parseRow(cells: readonly string[], line: number, layout: Layout): ParsedRow {
  if (cells.length !== layout.columns) {
    const hint = cells.length > layout.columns ? ' (a number written with a thousands separator, like 1,234.5, splits into two columns: write 1234.5)' : '';
    throw new CsvParseError(line, `expected ${layout.columns} columns, found ${cells.length}: ${JSON.stringify(cells.join(','))}${hint}`);
  }
  const cell = (field: Field): string | undefined => {
    const i = layout.index[field];
    return i === undefined ? undefined : cells[i];
  };
  const row: ParsedRow = { line, date: parseDate(cell('date') ?? '', line), open: null, high: null, low: null, close: null, adj_close: null, volume: null };
  for (const field of NUMERIC_FIELDS) row[field] = parseNumber(cell(field), field, line);
  return row;
}

function parseDate(raw: string, line: number): string {
  const m = DATE_PREFIX.exec(raw);
  if (!m) throw new CsvParseError(line, `unparsable date ${JSON.stringify(raw)}, expected YYYY-MM-DD`);
  const date = `${m[1]}-${m[2]}-${m[3]}`;
  // Round-trip through Date to reject 2021-02-30 and friends.
  const parsed = new Date(`${date}T00:00:00Z`);
  if (Number.isNaN(parsed.getTime()) || parsed.toISOString().slice(0, 10) !== date) {
    throw new CsvParseError(line, `invalid calendar date ${JSON.stringify(raw)}`);
  }
  return date;
}

/** `1,234` or `1,234,567.89`: digits grouped by commas. */
const THOUSANDS_GROUPED = /^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$/;

function parseNumber(raw: string | undefined, field: NumericField, line: number): number | null {
  if (raw === undefined || NULL_TOKENS.has(raw.toLowerCase())) return null;
  if (THOUSANDS_GROUPED.test(raw)) {
    throw new CsvParseError(line, `${field} ${JSON.stringify(raw)} has a thousands separator; write numbers without grouping, like ${raw.replaceAll(',', '')}`);
  }
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new CsvParseError(line, `${field} is not a number: ${JSON.stringify(raw)}`);
  return value;
}

export interface CollectOptions {
  /** Inclusive `YYYY-MM-DD` bounds; rows outside are skipped while streaming. */
  start?: string;
  end?: string;
}

export interface CollectedBars {
  /** Rows with a close, in file order (run `cleanBars` to sort, dedupe and sanity-check). */
  bars: DailyBar[];
  /** Rows dropped while collecting, by reason (`null_bar`: no close). */
  rejected: Record<string, number>;
}

/** Parses a whole CSV into DailyBar[], keeping only rows in [start, end]. */
export async function collectBars(input: CsvInput, opts: CollectOptions = {}): Promise<CollectedBars> {
  const bars: DailyBar[] = [];
  const rejected: Record<string, number> = {};
  for await (const row of parseYahooCsv(input)) {
    if ((opts.start && row.date < opts.start) || (opts.end && row.date > opts.end)) continue;
    const bar = toDailyBar(row);
    if (bar) bars.push(bar);
    else rejected.null_bar = (rejected.null_bar ?? 0) + 1;
  }
  return { bars, rejected };
}

/** The row as a DailyBar, or null when it has no close (Yahoo's all-`null` rows). */
export function toDailyBar(row: ParsedRow): DailyBar | null {
  if (row.close === null) return null;
  const { line: _line, ...bar } = row;
  return { ...bar, close: row.close };
}
