/**
 * Every bench appends its figures to one CSV (reports/bench.csv by default), one row per figure,
 * with the machine's description and its load at the time: absolute figures move with the
 * machine, so a figure is never read without them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';

const COLUMNS = ['date', 'host', 'node', 'load_avg_1m', 'bench', 'figure', 'value'];

/** The machine as the CSV names it: cores, CPU model, memory. */
export function machine(): string {
  return `${os.cpus().length}x ${os.cpus()[0]?.model.trim() ?? '?'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`;
}

/** Append `figures` of `bench` to `file`. A file written with other columns (an older bench) is moved aside, and that is said. */
export function appendFigures(file: string, bench: string, figures: Record<string, number | string | boolean>): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  if (fs.existsSync(file)) {
    const head = fs.readFileSync(file, 'utf8').split('\n', 1)[0]!.trim();
    if (head !== COLUMNS.join(',')) {
      const aside = `${file}.${new Date().toISOString().replace(/[:.]/g, '-')}.old`;
      fs.renameSync(file, aside);
      console.log(`  ${file} had other columns (an older bench): moved to ${aside}`);
    }
  }
  const common = { date: new Date().toISOString(), host: machine(), node: process.version, load_avg_1m: +os.loadavg()[0]!.toFixed(2), bench };
  const rows = Object.entries(figures).map(([figure, value]) => ({ ...common, figure, value }));
  fs.appendFileSync(file, stringify(rows, { header: !fs.existsSync(file), columns: COLUMNS }));
  console.log(`  ${rows.length} figures appended to ${file}`);
}
