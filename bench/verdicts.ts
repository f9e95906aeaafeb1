// The verdict matrix: every firmware (the built-in sim, the gpiozero panel in both instrumentation
// styles, the C++ ESP and its ThreadSanitizer build), healthy and with each of its seeded bugs,
// through `hil run` on the buttons, burst, model-based and HTTP scenarios (the buttons table presses
// every button with the reactor running, so a bug only that state reaches is not left to the
// property's search). One row per firmware × bug: verdict, the invariant that fired, whether that
// is the intended reason, bench seconds to the first failure, counterexample size. Healthy
// firmware runs N times with busy-loop hogs on the cores; its row counts false failures.
//
//   npm run verdicts -- [--n 5] [--hogs 2] [--only esp-cpp,panel-racy] [--csv reports/verdicts.csv]
//                       [--runs 10] [--budget 30s] [--bug-runs 30] [--bug-budget 90s] [--spec scenarios/40-bursts.spec.ts ...] [--grep RE]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { buildEspFirmware, espCommand, ESP_BUGS, PANEL_DIR, type EspBug } from './firmware.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HIL = path.join(ROOT, 'bin/hil.js');
export const DEFAULT_SPECS = ['scenarios/10-buttons.spec.ts', 'scenarios/40-bursts.spec.ts', 'scenarios/50-model.spec.ts', 'scenarios/60-esp-http.spec.ts'];

/** One firmware × bug: how to run it and what must catch it. */
export interface MatrixRow {
  firmware: string;
  /** `healthy` or the bug's name. */
  bug: string;
  /** Invariants that are the intended reason (`expectation`: a scenario's own check, no invariant). Empty for healthy. */
  intended: string[];
  /**
   * The device this firmware plays. A row is judged on what was blamed on it: violations on the
   * other device belong to the other firmware (the built-in one), or to the bench.
   */
  device: 'pi' | 'esp' | '*';
  /** `hil run` arguments selecting rig and firmware (no specs, no --out). */
  args: () => Promise<string[]>;
}

const PANEL_BUGS: Record<string, string[]> = {
  'stopping-deadlock': ['heartbeat', 'drain'],
  'rod-typo': ['death-pattern'],
  'stop-flushes-queue': ['exactly-once'],
  'emergency-priority': ['order'],
  'copy-paste-rod': ['expectation'],
};
const SIM_BUGS: Record<string, string[]> = {
  'no-debounce': ['exactly-once'],
  'slow-callback': ['callback-latency'],
  'bound-off-by-one': ['queue-bound'],
  'silent-drop': ['exactly-once'],
  'blocking-put': ['callback-latency'],
  'lock-in-callback': ['heartbeat', 'drain'],
  'stuck-processor': ['death-pattern'],
  'esp-sync-db': ['death-pattern'],
};
const ESP_INTENDED: Record<EspBug, string[]> = {
  'sync-db': [ESP_BUGS['sync-db']],
  'wrap-off-by-one': ['exactly-once', 'order'],
  'silent-drop': ['exactly-once'],
};

function panelCmd(style: 'racy' | 'ids', bug?: string): string {
  const script = path.join(PANEL_DIR, 'hil_bench.py');
  return `exec /usr/bin/python3 -u ${JSON.stringify(script)} --style ${style}${bug ? ` --bug ${bug}` : ''} 2>&1`;
}

/** Every row of the matrix, in order. */
export function matrixRows(): MatrixRow[] {
  const rows: MatrixRow[] = [];
  const add = (firmware: string, bug: string, intended: string[], args: () => Promise<string[]>, device: MatrixRow['device']): void =>
    void rows.push({ firmware, bug, intended, args, device });
  add('sim', 'healthy', [], () => Promise.resolve([]), '*');
  for (const [f, inv] of Object.entries(SIM_BUGS)) add('sim', f, inv, () => Promise.resolve(['--fault', f]), '*');
  for (const style of ['racy', 'ids'] as const) {
    const pi = (bug?: string) => () => Promise.resolve(['--rig', 'sim-external-pi', '--dut-cmd', panelCmd(style, bug), '--dut-edge-times']);
    add(`panel-${style}`, 'healthy', [], pi(), 'pi');
    for (const [b, inv] of Object.entries(PANEL_BUGS)) add(`panel-${style}`, b, inv, pi(b), 'pi');
  }
  const esp = (bug?: EspBug, tsan = false) => async () => ['--esp-cmd', espCommand(await buildEspFirmware({ tsan }), bug)];
  add('esp-cpp', 'healthy', [], esp(), 'esp');
  for (const b of Object.keys(ESP_BUGS) as EspBug[]) add('esp-cpp', b, ESP_INTENDED[b], esp(b), 'esp');
  // The seed design's unlocked ring, shown by the sanitizer on the otherwise healthy firmware.
  add('esp-cpp-tsan', 'unlocked-ring', ['death-pattern'], esp(undefined, true), 'esp');
  return rows;
}

/** What one `hil run` showed. */
export interface RunResult {
  verdict: 'PASS' | 'FAIL' | 'HUNG' | 'ERROR';
  /** The earliest violation's invariant; `expectation` when a test failed without one; '' on PASS. */
  invariant: string;
  detail: string;
  /** Bench seconds from the start of the run to the first failure. */
  firstFailureS: number | undefined;
  counterexample: string;
  counterexampleSize: number | undefined;
  /**
   * How the counterexample's shrinking ended (the replay file's `shrinking`): `complete`, `budget`,
   * or '' when not recorded; `, not confirmed` after it when its reruns all passed.
   */
  shrinking: string;
  failedTests: string[];
  reportDir: string;
  exitCode: number | null;
}

type Csv = Array<Record<string, string>>;

/** Run `hil run` once for `row` and judge its report ({@link judgeRun}). */
export async function runOnce(row: MatrixRow, args: string[], specs: string[], extra: string[], outRoot: string): Promise<RunResult> {
  fs.mkdirSync(outRoot, { recursive: true });
  const out = fs.mkdtempSync(path.join(outRoot, 'run-'));
  const child = spawn(process.execPath, [HIL, 'run', '--out', out, ...args, ...extra, ...specs], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (text = (text + s).slice(-200_000)));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (text = (text + s).slice(-200_000)));
  const exitCode = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const dir = path.join(out, fs.readdirSync(out).find((f) => fs.statSync(path.join(out, f)).isDirectory()) ?? '');
  return { ...judgeRun(row, dir, text), exitCode };
}

/**
 * Judge a recorded run for a row: only what was blamed on the row's device (or on no device: a
 * scenario's own check) counts. The invariant reported is the intended one when it fired at all
 * (a bug caught for its reason, even if something else fired first), else the earliest.
 */
export function judgeRun(row: MatrixRow, dir: string, text = ''): Omit<RunResult, 'exitCode'> {
  const read = (f: string): Csv => (fs.existsSync(path.join(dir, f)) ? parse<Record<string, string>>(fs.readFileSync(path.join(dir, f), 'utf8'), { columns: true }) : []);
  // Run-level rows count when they blame something: the pooled latency over the whole run, a death
  // line between tests (hil run exits 1 for them too). A passing one is no test.
  const summary = read('summary.csv').filter((r) => r.scenario !== 'run' || (r.outcome !== 'PASS' && r.outcome !== ''));
  const ours = (v: Record<string, string>): boolean => row.device === '*' || !v.device || v.device === row.device;
  const allViolations = read('violations.csv');
  const violations = allViolations.filter(ours);
  const blamedElsewhere = new Set(allViolations.filter((v) => !ours(v)).map((v) => v.test));
  const blamedHere = new Set(violations.map((v) => v.test));
  // A failed test counts when something was blamed on this device, or on nothing at all.
  const failed = summary.filter(
    (r) => r.outcome !== 'PASS' && r.outcome !== 'PENDING' && r.outcome !== 'SKIPPED' && (blamedHere.has(r.test) || !blamedElsewhere.has(r.test)),
  );
  const outcomes = new Set(failed.map((r) => r.outcome));
  let verdict: RunResult['verdict'] = outcomes.has('HUNG') ? 'HUNG' : outcomes.has('FAIL') ? 'FAIL' : failed.length > 0 ? 'ERROR' : 'PASS';
  if (summary.length === 0) verdict = 'ERROR'; // nothing ran: the bench or the harness failed
  // A scenario's own failed check is recorded as the pseudo-invariant `test fail`.
  for (const v of violations) if (v.invariant === 'test fail') v.invariant = 'expectation';
  const at = (v: Record<string, string>): number => (v.host_time_ms ? Number(v.host_time_ms) : Infinity);
  const byTime = [...violations].sort((a, b) => at(a) - at(b));
  const firstV = byTime.find((v) => row.intended.includes(v.invariant!)) ?? byTime[0];
  let firstFailureS: number | undefined;
  if (firstV?.host_time_ms) firstFailureS = Number(firstV.host_time_ms) / 1000;
  else if (failed.length > 0) {
    // No bench time on the record: the sum of test durations up to the end of the first failed one.
    let t = 0;
    for (const r of summary) {
      t += Number(r.duration_ms) || 0;
      if (r === failed[0]) break;
    }
    firstFailureS = t / 1000;
  }
  const replayDir = path.join(dir, 'replay');
  let counterexample = '';
  let shrinking = '';
  if (fs.existsSync(replayDir)) {
    for (const f of fs.readdirSync(replayDir).sort()) {
      const j = JSON.parse(fs.readFileSync(path.join(replayDir, f), 'utf8')) as { counterexample?: string; test?: string; shrinking?: string; confirmed?: boolean };
      // The replay file names the test by its full title (suite and test, as mocha does); the
      // summary has them in two columns.
      if (j.counterexample && failed.some((r) => `${r.suite} ${r.test}` === j.test || r.test === j.test)) {
        counterexample = j.counterexample;
        // A counterexample that never failed again is worth knowing before its size is read.
        shrinking = (j.shrinking ?? '') + (j.confirmed === false ? ', not confirmed' : '');
        break;
      }
    }
  }
  return {
    verdict,
    invariant: verdict === 'PASS' ? '' : firstV?.invariant ?? (summary.length === 0 ? 'no tests ran' : 'expectation'),
    detail: verdict === 'PASS' ? '' : firstV?.detail ?? (failed[0]?.violations || failed[0]?.notes || text.slice(-400)).split('\n')[0]!.slice(0, 300),
    firstFailureS,
    counterexample,
    counterexampleSize: counterexample ? counterexampleSize(counterexample) : undefined,
    shrinking,
    failedTests: failed.map((r) => `${r.outcome} ${r.test}`),
    reportDir: dir,
  };
}

/** Presses and requests in a counterexample: a burst/command list's button names and http(…), or an HTTP burst's count. */
export function counterexampleSize(cx: string): number {
  const count = /"count":(\d+)/.exec(cx);
  if (count) return Number(count[1]);
  const presses = cx.match(/\b[A-Z]{2,}(?:_[A-Z]+)+\b|\bEMERGENCY\b/g)?.length ?? 0;
  const requests = cx.match(/\bhttp\(/g)?.length ?? 0;
  return presses + requests;
}

/** Busy-loop processes on the cores while healthy firmware runs; stopped by pid. */
function startHogs(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

/** One matrix row's figures. */
export interface RowResult {
  firmware: string;
  bug: string;
  runs: number;
  verdict: string;
  invariant: string;
  intended: string;
  firstFailureS: string;
  counterexampleSize: string;
  /**
   * Whether that size is where shrinking ended (`complete`) or where the budget stopped it
   * (`stopped by budget`: a larger budget may shrink it further), with `, not confirmed` when the
   * counterexample never failed again on its reruns (an intermittent failure); '' without a
   * counterexample.
   */
  shrinking: string;
  /** Healthy rows: runs that blamed the firmware (FAIL, HUNG). */
  falseFailures: string;
  /** Healthy rows: runs the bench could not judge (ERROR: a bench fault, said as such). Not a false failure, not a pass. */
  benchErrors: string;
  detail: string;
  counterexample: string;
  reports: string;
}

/** Run one row (healthy rows `n` times with `hogs` hogs) and summarise it. */
export async function runRow(row: MatrixRow, o: { n: number; hogs: number; specs: string[]; extra: string[]; outRoot: string; log?: (s: string) => void }): Promise<RowResult> {
  const args = await row.args();
  const healthy = row.bug === 'healthy';
  const results: Array<Omit<RunResult, 'exitCode'>> = [];
  for (let i = 0; i < (healthy ? o.n : 1); i++) {
    const hogs = healthy ? startHogs(o.hogs) : [];
    try {
      const r = await runOnce(row, args, o.specs, o.extra, o.outRoot);
      o.log?.(`  ${row.firmware} ${row.bug}${healthy ? ` #${i + 1}` : ''}: ${r.verdict}${r.invariant ? ` (${r.invariant})` : ''} ${r.reportDir}`);
      results.push(r);
    } finally {
      for (const h of hogs) h.kill('SIGKILL');
    }
  }
  return summarise(row, results);
}

/** One row from its runs: healthy rows count false failures, bug rows report the (first) run. */
export function summarise(row: MatrixRow, results: Array<Omit<RunResult, 'exitCode'>>): RowResult {
  const healthy = row.bug === 'healthy';
  const bad = results.filter((r) => r.verdict !== 'PASS');
  const first = bad[0] ?? results[0]!;
  const fmt = (v: number | undefined, d = 1): string => (v === undefined ? '' : v.toFixed(d));
  return {
    firmware: row.firmware,
    bug: row.bug,
    runs: results.length,
    verdict: healthy ? (bad.length === 0 ? 'PASS' : bad.map((r) => r.verdict).join('/')) : first.verdict,
    invariant: first.invariant,
    intended: healthy ? (bad.length === 0 ? 'yes' : 'no') : first.verdict === 'FAIL' || first.verdict === 'HUNG' ? (row.intended.includes(first.invariant) ? 'yes' : 'no') : 'no',
    firstFailureS: fmt(first.firstFailureS),
    counterexampleSize: first.counterexampleSize === undefined ? '' : String(first.counterexampleSize),
    shrinking: first.shrinking.replace(/^budget\b/, 'stopped by budget'),
    falseFailures: healthy ? String(bad.filter((r) => r.verdict !== 'ERROR').length) : '',
    benchErrors: healthy ? String(bad.filter((r) => r.verdict === 'ERROR').length) : '',
    detail: first.detail,
    counterexample: first.counterexample,
    reports: results.map((r) => r.reportDir).join(' '),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '5' },
      hogs: { type: 'string', default: '2' },
      only: { type: 'string' },
      csv: { type: 'string', default: 'reports/verdicts.csv' },
      rejudge: { type: 'string' },
      runs: { type: 'string', default: '10' },
      budget: { type: 'string', default: '30s' },
      'bug-runs': { type: 'string', default: '30' },
      'bug-budget': { type: 'string', default: '90s' },
      spec: { type: 'string', multiple: true },
      grep: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    const all = matrixRows();
    const firmware = [...new Set(all.map((r) => r.firmware))];
    process.stdout.write(
      `npm run verdicts -- [options]

Runs every firmware (the built-in sim, the gpiozero panel in both instrumentation styles, the C++ ESP
and its ThreadSanitizer build), healthy and with each seeded bug, through \`hil run\` on the
simulated bench, and prints and writes one row per firmware × bug: verdict, the invariant that
fired, whether that is the intended reason, bench seconds to the first failure, counterexample size
and whether its shrinking ended or the budget stopped it (then a larger --bug-budget may shrink it further).
Healthy rows run --n times with --hogs busy loops on the cores and count false failures.
${all.length} rows; with the defaults that is ${all.filter((r) => r.bug !== 'healthy').length + 5 * all.filter((r) => r.bug === 'healthy').length} \`hil run\`s, each up to a few minutes (a property's budget per property).

Options:
  --only LIST     firmware (${firmware.join(', ')}) or single rows as firmware/bug,
                  comma-separated (e.g. --only panel-ids/healthy,sim/stuck-processor)
  --n N           runs of each healthy row (default 5)
  --hogs N        busy-loop processes during healthy runs (default 2)
  --spec FILE     a scenario file to run instead of the default four (repeatable):
                  ${DEFAULT_SPECS.join(' ')}
  --grep RE       only the tests whose title matches (passed to hil run)
  --runs N        property runs per property in the healthy rows (default 10)
  --budget T      bench time per property in the healthy rows, e.g. 30s (default 30s)
  --bug-runs N    property runs per property in the bug rows (default 30): a bug that needs a
                  sequence of presses is met in a few percent of random bursts (EMERGENCY while a
                  pump is stopping: about 8 %), so 10 runs miss it about 2 times in 5, 30 runs 1 in 13
  --bug-budget T  bench time per property in the bug rows (default 90s: 30 runs, or a first
                  failure and its shrinking, which stops at 70 % of it)
  --csv FILE      where the rows go (default reports/verdicts.csv; written after every row)
  --rejudge CSV   judge the runs an earlier matrix recorded again, without the bench
  -h, --help      this text

Rows:
${all.map((r) => `  ${r.firmware}/${r.bug}${r.intended.length ? ` (intended: ${r.intended.join(' or ')})` : ''}`).join('\n')}

Example: two bug rows on the burst property only (each a run of about a minute or less):
  npm run verdicts -- --only panel-ids/rod-typo,panel-racy/rod-typo --spec scenarios/40-bursts.spec.ts
`,
    );
    return;
  }
  if (values.rejudge) {
    // Judge the runs an earlier matrix recorded again (after a change to the judging), no bench needed.
    const rows = matrixRows();
    const old = parse<Record<string, string>>(fs.readFileSync(values.rejudge, 'utf8'), { columns: true });
    const out = old.map((o) => {
      const row = rows.find((r) => r.firmware === o.firmware && r.bug === o.bug);
      if (!row) throw new Error(`${values.rejudge}: no matrix row ${o.firmware} × ${o.bug}`);
      return summarise(row, (o.reports ?? '').split(' ').filter(Boolean).map((d) => judgeRun(row, d)));
    });
    for (const r of out) printRow(r);
    fs.writeFileSync(path.resolve(ROOT, values.csv), stringify(out, { header: true }));
    printTotals(out);
    return;
  }
  const n = Number(values.n);
  const hogs = Number(values.hogs);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--n must be a whole number ≥ 1, got ${values.n}`);
  if (!Number.isInteger(hogs) || hogs < 0) throw new Error(`--hogs must be a whole number ≥ 0, got ${values.hogs}`);
  const only = values.only?.split(',').map((s) => s.trim());
  const rows = matrixRows().filter((r) => !only || only.includes(r.firmware) || only.includes(`${r.firmware}/${r.bug}`));
  if (rows.length === 0) throw new Error(`--only ${values.only} matches no row; firmware: ${[...new Set(matrixRows().map((r) => r.firmware))].join(', ')}`);
  // The gpiozero panel runs on Debian's python3-gpiozero: without it every panel row would crash at
  // import and read as a firmware failure (its traceback matches the death pattern).
  if (rows.some((r) => r.firmware.startsWith('panel-'))) {
    const probe = spawnSync('/usr/bin/python3', ['-c', 'import gpiozero'], { encoding: 'utf8' });
    if (probe.status !== 0) throw new Error(`the panel rows need gpiozero for /usr/bin/python3 (apt-get install python3-gpiozero; .ci/run installs it): ${(probe.stderr || probe.error?.message || '').trim().split('\n').pop()}`);
  }
  const grep = values.grep ? ['--grep', values.grep] : [];
  const healthyExtra = ['--runs', values.runs, '--budget', values.budget, ...grep];
  const bugExtra = ['--runs', values['bug-runs'], '--budget', values['bug-budget'], ...grep];
  const specs = values.spec ?? DEFAULT_SPECS;
  const outRoot = path.join(ROOT, 'reports', 'verdicts');
  console.log(`verdict matrix: ${rows.length} rows, healthy ×${n} with ${hogs} hog(s) (${healthyExtra.join(' ')}), bug rows ${bugExtra.join(' ')}; ${os.cpus().length} cores, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const results: RowResult[] = [];
  const csvPath = path.resolve(ROOT, values.csv);
  fs.mkdirSync(path.dirname(csvPath), { recursive: true });
  for (const row of rows) {
    const t0 = Date.now();
    const r = await runRow(row, { n, hogs, specs, extra: row.bug === 'healthy' ? healthyExtra : bugExtra, outRoot, log: (s) => console.log(s) });
    results.push(r);
    // Written after every row, so an interrupted matrix leaves what it has.
    fs.writeFileSync(csvPath, stringify(results, { header: true }));
    printRow(r, `  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
  printTotals(results);
  console.log(`csv: ${csvPath}`);
}

function printRow(r: RowResult, tail = ''): void {
  console.log(
    `${r.firmware.padEnd(13)} ${r.bug.padEnd(19)} ${r.verdict.padEnd(6)} ${(r.invariant || '-').padEnd(17)} intended=${r.intended.padEnd(3)} first=${(r.firstFailureS || '-').padStart(6)} s cx=${(r.counterexampleSize || '-').padStart(3)}${r.shrinking.startsWith('stopped by budget') ? ' (budget)' : ''}${r.shrinking.endsWith('not confirmed') ? ' (not confirmed)' : ''}${r.falseFailures ? ` false=${r.falseFailures}/${r.runs}` : ''}${Number(r.benchErrors) > 0 ? ` bench-errors=${r.benchErrors}` : ''}${tail}`,
  );
}

function printTotals(results: RowResult[]): void {
  const healthy = results.filter((r) => r.bug === 'healthy');
  const bugs = results.filter((r) => r.bug !== 'healthy');
  const errors = healthy.reduce((s, r) => s + Number(r.benchErrors), 0);
  console.log(`\nfalse failures: ${healthy.reduce((s, r) => s + Number(r.falseFailures), 0)} in ${healthy.reduce((s, r) => s + r.runs, 0)} healthy runs${errors > 0 ? ` (and ${errors} the bench could not judge: ERROR, a bench fault said as such)` : ''}`);
  console.log(`bugs caught for the intended reason: ${bugs.filter((r) => r.intended === 'yes').length} of ${bugs.length}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(`verdicts: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(2);
  });
}
