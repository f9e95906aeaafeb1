import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { restoreFormula } from './_internals/csv-file.ts';
import { EVENTS_FILE, LATENCY_FILE, SETUP_FILE, SUMMARY_FILE, VIOLATIONS_FILE } from './report-writer.ts';
import type { EventColumn, LatencyColumn, SetupColumn, SummaryColumn, ViolationColumn } from './rows.ts';

/** A CSV row as read back: every cell a string, empty for unknown. */
export type CsvRecord<C extends string> = Readonly<Record<C, string>>;

/** A run folder's CSV files, read back. */
export interface ReportFiles {
  dir: string;
  summary: Array<CsvRecord<SummaryColumn>>;
  events: Array<CsvRecord<EventColumn>>;
  violations: Array<CsvRecord<ViolationColumn>>;
  /** Bench preparation attempts (`setup.csv`; empty when the rig has no setup steps). */
  setup: Array<CsvRecord<SetupColumn>>;
  /** Percentile limits judged per test and over the run (`latency.csv`; empty when the rig sets none). */
  latency: Array<CsvRecord<LatencyColumn>>;
  /** Files that were not there (a run that never got as far as opening its report). */
  missing: string[];
}

/** Read `summary.csv`, `events.csv` and `violations.csv` of a run folder. Missing files read as empty. */
export function readReport(dir: string): ReportFiles {
  const missing: string[] = [];
  const read = <C extends string>(name: string, optional = false): Array<CsvRecord<C>> => {
    const file = path.join(dir, name);
    let content: string;
    try {
      content = fs.readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        if (!optional) missing.push(name);
        return [];
      }
      throw error;
    }
    try {
      // Cells the writer neutralised for spreadsheets (a leading `'`) read back as written.
      return parse<CsvRecord<C>>(content, { columns: true, skip_empty_lines: true, bom: true, cast: (v, ctx) => (ctx.header ? v : restoreFormula(v)) });
    } catch (error) {
      throw new Error(`${file}: not a valid report CSV: ${(error as Error).message}`, { cause: error });
    }
  };
  return {
    dir,
    summary: read<SummaryColumn>(SUMMARY_FILE),
    events: read<EventColumn>(EVENTS_FILE),
    violations: read<ViolationColumn>(VIOLATIONS_FILE),
    setup: read<SetupColumn>(SETUP_FILE, true),
    latency: read<LatencyColumn>(LATENCY_FILE, true),
    missing,
  };
}

/** A numeric cell, or undefined when empty or not a number. */
export function num(cell: string | undefined): number | undefined {
  if (cell === undefined || cell.trim() === '') return undefined;
  const n = Number(cell);
  return Number.isFinite(n) ? n : undefined;
}
