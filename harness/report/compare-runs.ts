import { num, readReport } from './read-report.ts';

/**
 * Compare two run folders test by test, from their `summary.csv` files: verdict changes and the
 * change of callback p99 (µs) and processing p99 (ms). Returns a plain-text table; tests only in
 * one run are listed as added or removed.
 */
export function compareRuns(dirA: string, dirB: string): string {
  const a = readReport(dirA);
  const b = readReport(dirB);
  const byTest = (rows: typeof a.summary) => new Map(rows.map((r) => [[r.scenario, r.suite, r.test].filter(Boolean).join(' › '), r]));
  const ma = byTest(a.summary);
  const mb = byTest(b.summary);
  const names = [...new Set([...ma.keys(), ...mb.keys()])];
  const header = ['test', 'verdict', 'cb p99 µs', 'proc p99 ms'];
  const rows: string[][] = [];
  let changed = 0;
  for (const name of names) {
    const ra = ma.get(name);
    const rb = mb.get(name);
    let verdict: string;
    if (!ra) verdict = `(added) ${rb!.outcome}`;
    else if (!rb) verdict = `${ra.outcome} (removed)`;
    else verdict = ra.outcome === rb.outcome ? ra.outcome : `${ra.outcome} → ${rb.outcome}`;
    if (!ra || !rb || ra.outcome !== rb.outcome) changed++;
    rows.push([name, verdict, delta(ra?.cb_p99_us, rb?.cb_p99_us, 1), delta(ra?.proc_p99_ms, rb?.proc_p99_ms, 3)]);
  }
  const runA = a.summary[0]?.run_id || dirA;
  const runB = b.summary[0]?.run_id || dirB;
  const widths = header.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k]!.length)));
  const line = (cells: string[]) => cells.map((c, k) => c.padEnd(widths[k]!)).join('  ').trimEnd();
  return [
    `${runA} → ${runB}: ${names.length} tests, ${changed} verdict change${changed === 1 ? '' : 's'}`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ].join('\n') + '\n';
}

function delta(a: string | undefined, b: string | undefined, decimals: number): string {
  const x = num(a);
  const y = num(b);
  if (x === undefined && y === undefined) return '';
  if (x === undefined || y === undefined) return `${x?.toFixed(decimals) ?? '–'} → ${y?.toFixed(decimals) ?? '–'}`;
  const d = y - x;
  const pct = x !== 0 ? ` (${d >= 0 ? '+' : ''}${((d / x) * 100).toFixed(0)}%)` : '';
  return `${x.toFixed(decimals)} → ${y.toFixed(decimals)}${pct}`;
}
