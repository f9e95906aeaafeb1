/**
 * Every bench appends its figures to one CSV (reports/bench.csv by default), one row per figure,
 * with the commit it measured, the machine (CPU model, cores, memory, Node) and the machine's load
 * average when the bench started: absolute figures move with the machine and with whatever else
 * runs on it, so a figure is never read without them.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';

const COLUMNS = ['date', 'commit', 'cpu', 'cores', 'ram_gib', 'node', 'load_avg_start', 'bench', 'figure', 'value'];

/** The 1-, 5- and 15-minute load averages when this bench started (this module is loaded first thing). */
const LOAD_AT_START = os.loadavg();

/** The machine as the CSV names it: cores, CPU model, memory. */
export function machine(): string {
  return `${os.cpus().length}x ${os.cpus()[0]?.model.trim() ?? '?'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`;
}

/** The load averages when the bench started, `1m 5m 15m`. */
export function loadAtStart(): string {
  return LOAD_AT_START.map((x) => x.toFixed(2)).join(' ');
}

/** The commit measured: short hash, `-dirty` when the work tree has changes; `?` outside git. */
export function commit(): string {
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: path.dirname(new URL(import.meta.url).pathname), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return git('rev-parse', '--short', 'HEAD') + (git('status', '--porcelain', '--untracked-files=no') ? '-dirty' : '');
  } catch {
    return '?';
  }
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
  const common = {
    date: new Date().toISOString(),
    commit: commit(),
    cpu: os.cpus()[0]?.model.trim() ?? '?',
    cores: os.cpus().length,
    ram_gib: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    load_avg_start: loadAtStart(),
    bench,
  };
  const rows = Object.entries(figures).map(([figure, value]) => ({ ...common, figure, value }));
  fs.appendFileSync(file, stringify(rows, { header: !fs.existsSync(file), columns: COLUMNS }));
  console.log(`  ${rows.length} figures appended to ${file} (commit ${common.commit}, load at start ${common.load_avg_start})`);
}
