/**
 * Streaming parser for Yahoo-format daily CSV.
 *
 * Accepts the classic Yahoo/yfinance header `Date,Open,High,Low,Close,Adj Close,Volume` and the
 * lowercase variant `date,open,high,low,close,adjclose,volume` (vega-datasets). Columns are matched
 * by name (case-insensitive, spaces/underscores ignored), so order and extra columns don't matter;
 * only `Date` and `Close` are required.
 *
 * Handles a UTF-8 BOM, CRLF or LF, a trailing newline, blank lines, Yahoo's literal `null` and
 * empty fields (both become null). A malformed line is a `CsvParseError` carrying its 1-based line
 * number: importing a half-broken file silently would hide data loss.
 *
 * Only one chunk plus one partial line is held at a time, so it works on a fs.createReadStream or
 * an HTTP request body of any size.
 */
import { StringDecoder } from 'node:string_decoder';
import type { DailyBar } from '../../common/src/bars.ts';

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
  let layout: Layout | undefined;
  for await (const { line, text } of lines(input)) {
    if (text.trim() === '') continue;
    if (!layout) {
      layout = parseHeader(text, line);
      continue;
    }
    yield parseRow(text, line, layout);
  }
  if (!layout) throw new CsvParseError(1, 'empty input, expected a header like Date,Open,High,Low,Close,Adj Close,Volume');
}

/** Splits the input into lines without buffering more than one chunk; strips BOM and CR. */
async function* lines(input: CsvInput): AsyncGenerator<{ line: number; text: string }> {
  const decoder = new StringDecoder('utf8'); // keeps multi-byte characters split across chunks intact
  let carry = '';
  let line = 0;
  const chunks: AsyncIterable<string | Buffer | Uint8Array> | Iterable<string> = typeof input === 'string' ? [input] : input;
  for await (const chunk of chunks) {
    const text = carry + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
    const parts = text.split('\n');
    carry = parts.pop() ?? '';
    for (const part of parts) yield { line: ++line, text: clean(part, line) };
  }
  carry += decoder.end();
  if (carry !== '') yield { line: ++line, text: clean(carry, line) };
}

function clean(text: string, line: number): string {
  const noCr = text.endsWith('\r') ? text.slice(0, -1) : text;
  return line === 1 && noCr.startsWith('\uFEFF') ? noCr.slice(1) : noCr;
}

function parseHeader(text: string, line: number): Layout {
  const names = text.split(',');
  const index: Partial<Record<Field, number>> = {};
  names.forEach((raw, i) => {
    const field = HEADER_ALIASES[raw.trim().replace(/^"|"$/g, '').replace(/[\s_]/g, '').toLowerCase()];
    if (field && index[field] === undefined) index[field] = i;
  });
  for (const required of ['date', 'close'] as const) {
    if (index[required] === undefined) {
      throw new CsvParseError(line, `header has no ${required === 'date' ? 'Date' : 'Close'} column: ${JSON.stringify(text)}`);
    }
  }
  return { columns: names.length, index };
}

function parseRow(text: string, line: number, layout: Layout): ParsedRow {
  const cells = text.split(',');
  if (cells.length !== layout.columns) {
    throw new CsvParseError(line, `expected ${layout.columns} columns, found ${cells.length}: ${JSON.stringify(text)}`);
  }
  const cell = (field: Field): string | undefined => {
    const i = layout.index[field];
    return i === undefined ? undefined : cells[i]?.trim();
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

function parseNumber(raw: string | undefined, field: NumericField, line: number): number | null {
  if (raw === undefined || NULL_TOKENS.has(raw.toLowerCase())) return null;
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
