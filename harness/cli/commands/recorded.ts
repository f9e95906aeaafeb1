/**
 * Commands that work on recorded runs, without a bench: `hil check` re-runs the invariants over a
 * run's observations (new or changed invariants apply to old records), `hil report` re-renders
 * the HTML and compares two runs, `hil runs` lists the run folders.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.ts';
import { checkObservations } from '../../core/invariants/check.ts';
import { judgeRunLatency, RUN_LATENCY_TEST } from '../../core/invariants/report.ts';
import { resolveInvariantConfig, type Verdict } from '../../core/invariants/types.ts';
import { decideVerdict } from '../../core/invariants/verdict.ts';
import { compareRuns } from '../../report/compare-runs.ts';
import { renderHtmlReport } from '../../report/html-report.ts';
import { OBSERVATIONS_FILE, readObservations } from '../../report/observations-jsonl.ts';
import { readReport } from '../../report/read-report.ts';
import { readRunStatus, type RunStatus } from '../../report/run-status.ts';
import { fullTestTitle } from '../../report/rows.ts';
import { renderTrend } from '../../report/trend.ts';
import { loadRig } from '../../rig/load.ts';
import { RUN_META_FILE, type RunMeta } from '../../runner/run.ts';

function requireRunDir(dir: string, files: string[]): void {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ConfigError(`${dir}: no such run folder`);
  const missing = files.filter((f) => !fs.existsSync(path.join(dir, f)));
  if (missing.length > 0) throw new ConfigError(`${dir}: not a complete run folder — missing ${missing.join(', ')}`);
}

function readMeta(dir: string): RunMeta | undefined {
  const f = path.join(dir, RUN_META_FILE);
  if (!fs.existsSync(f)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(f, 'utf8')) as RunMeta;
  } catch (error) {
    throw new ConfigError(`${f}: not valid JSON (${(error as Error).message}); give --rig to check the run without it`, f);
  }
}

/** A run file that cannot be read or parsed makes the folder invalid (exit 2), not the run failed (exit 1). */
async function readRunFile<T>(read: () => T | Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError((error as Error).message);
  }
}

export interface CheckedWindow {
  test: string;
  /** The outcome the run recorded (summary.csv), if any. */
  recorded?: string;
  /** What the invariants say now (test-body failures, e.g. a failed expect(), are not re-judged). */
  now: Verdict;
  violations: Array<{ invariant: string; device: string; ms: number; detail: string }>;
  /** The run recorded invariant violations for this test (violations.csv), not only a test-body failure. */
  recordedInvariantViolations: boolean;
}

export interface CheckRunResult {
  rig: string;
  windows: CheckedWindow[];
  /** Violations in no test window (between tests): a death line or a rig fault there failed the live run too. */
  betweenTests: Array<{ invariant: string; device: string; ms: number; detail: string; fails: boolean }>;
  /** How the run ended: an INCOMPLETE run (it never finished) is never ok, whatever its windows say. */
  status: RunStatus;
  ok: boolean;
}

/** Re-run the invariants over a recorded run with the run's rig or another. */
export async function checkRun(dir: string, rigOverride?: string): Promise<CheckRunResult> {
  requireRunDir(dir, [OBSERVATIONS_FILE]);
  const meta = rigOverride === undefined ? readMeta(dir) : undefined;
  const rigRef = rigOverride ?? meta?.rigFile;
  if (!rigRef) throw new ConfigError(`${dir}: no ${RUN_META_FILE} to say which rig it ran on; give --rig`);
  if (rigOverride === undefined && !fs.existsSync(rigRef)) {
    throw new ConfigError(`${dir}: the run's rig file ${rigRef} is not here (a run copied from another machine?); give --rig ${meta?.rig ?? '<name|file>'}`, rigRef);
  }
  const { rig } = await loadRig(rigRef);
  const obs = await readRunFile(() => readObservations(path.join(dir, OBSERVATIONS_FILE)));
  const t0 = obs[0]?.t ?? 0n;
  // What the run's pre-flight found its bench could not judge stays unjudged here too.
  // (They are facts about the bench as it ran, so they hold under another rig's limits too.)
  let ran = meta;
  if (rigOverride !== undefined) {
    try {
      ran = readMeta(dir);
    } catch {
      ran = undefined;
    }
  }
  const notJudged = [...(rig.invariants?.notJudged ?? []), ...(ran?.notJudged ?? [])];
  const result = checkObservations(obs, resolveInvariantConfig(rig, { ...rig.invariants, ...(notJudged.length > 0 ? { notJudged } : {}) }));
  const recorded = new Map<string, string>();
  const invariantRows = new Set<string>();
  if (fs.existsSync(path.join(dir, 'summary.csv'))) {
    const report = await readRunFile(() => readReport(dir));
    for (const r of report.summary) recorded.set(fullTestTitle(r), r.outcome);
    // The recorder writes a `test <verdict>` row only for a test that failed without a violation.
    for (const v of report.violations) if (!v.invariant.startsWith('test ')) invariantRows.add(fullTestTitle(v));
  }
  const ms = (t: bigint): number => Number(t - t0) / 1e6;
  const windows = result.windows.map((w): CheckedWindow => {
    const name = w.window.name ?? '';
    const rec = recorded.get(name);
    return {
      test: name,
      ...(rec !== undefined ? { recorded: rec } : {}),
      now: decideVerdict(w.violations).verdict,
      violations: w.violations.map((v) => ({ invariant: v.invariant, device: v.device, ms: ms(v.t), detail: v.detail })),
      recordedInvariantViolations: invariantRows.has(name),
    };
  });
  // The run-level latency row, pooled over the test windows as `hil run` pooled them.
  if (windows.length > 0 && !windows.some((w) => w.recorded === 'ABORTED')) {
    const last = result.windows[result.windows.length - 1]!;
    const run = judgeRunLatency(result.engine.config, result.windows, last.window.tTo, last.window.to);
    if (run.latency.length > 0) {
      const rec = recorded.get(RUN_LATENCY_TEST);
      windows.push({
        test: RUN_LATENCY_TEST,
        ...(rec !== undefined ? { recorded: rec } : {}),
        now: decideVerdict(run.violations).verdict,
        violations: run.violations.map((v) => ({ invariant: v.invariant, device: v.device, ms: ms(v.t), detail: v.detail })),
        recordedInvariantViolations: invariantRows.has(RUN_LATENCY_TEST),
      });
    }
  }
  // As in `hil run`: a death line or a rig fault while no test ran fails the run; other violations there are listed.
  const inWindow = (t: bigint): boolean => result.windows.some((w) => t >= w.window.tFrom && t <= w.window.tTo);
  const betweenTests = result.violations
    .filter((v) => !inWindow(v.t))
    .map((v) => ({ invariant: v.invariant, device: v.device, ms: ms(v.t), detail: v.detail, fails: v.invariant === 'death-pattern' || v.kind === 'rig' }));
  const status = readRunStatus(dir);
  return { rig: rig.name, windows, betweenTests, status, ok: status.state !== 'incomplete' && windows.every((w) => w.now === 'PASS') && !betweenTests.some((v) => v.fails) };
}

/** `(was PASS, now FAIL)` and the like; empty when nothing changed. */
function changeNote(w: CheckedWindow): string {
  if (w.recorded === undefined || w.recorded === w.now) return '';
  if (w.now !== 'PASS') return `   (was ${w.recorded}, now ${w.now})`;
  if (w.recordedInvariantViolations) return `   (was ${w.recorded}, now PASS: the invariants no longer break)`;
  return `   (recorded ${w.recorded} from the test itself, which is not re-judged)`;
}

export function registerRecordedRunCommands(program: Command): void {
  program
    .command('check')
    .description('re-run the invariants over a recorded run (observations.jsonl), without a bench — new or changed invariants apply to old runs')
    .argument('<run dir>', 'a run folder (reports/<run id>)')
    .option('--rig <name|file>', "judge with this rig's limits instead of the run's own")
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
Examples:
  hil check reports/20261123-130029Z
  hil check reports/20261123-130029Z --rig rigs/tighter-limits.ts

Only the invariants are re-judged: a test body's own failure (a failed expect()) is not.
Exit code: 0 every test window passes the invariants, 1 one does not or the run never finished
(INCOMPLETE), 2 not a run folder or a bad rig.`,
    )
    .action(async (dir: string, o: { rig?: string; json?: boolean }) => {
      const r = await checkRun(dir, o.rig);
      if (o.json) {
        console.log(JSON.stringify(r, null, 2));
      } else {
        console.log(`checked ${r.windows.filter((w) => w.test !== RUN_LATENCY_TEST).length} test window(s) of ${dir} against rig ${r.rig}${r.windows.some((w) => w.test === RUN_LATENCY_TEST) ? ', and the latency pooled over the run' : ''}`);
        if (r.status.state === 'incomplete' || r.status.state === 'running') console.log(r.status.note);
        for (const w of r.windows) {
          console.log(`${w.now.padEnd(7)} ${w.test}${changeNote(w)}`);
          for (const v of w.violations) console.log(`          ${v.invariant} on ${v.device} at ${v.ms.toFixed(1)} ms: ${v.detail}`);
        }
        if (r.betweenTests.length > 0) console.log('between tests:');
        for (const v of r.betweenTests) console.log(`${v.fails ? 'FAIL   ' : '       '} ${v.invariant} on ${v.device} at ${v.ms.toFixed(1)} ms: ${v.detail}`);
        const bad = r.windows.filter((w) => w.now !== 'PASS').length;
        const badBetween = r.betweenTests.filter((v) => v.fails).length;
        console.log(r.ok ? 'every window passes the invariants' : [r.status.state === 'incomplete' ? 'the run is INCOMPLETE' : '', bad > 0 ? `${bad} window(s) break an invariant` : '', badBetween > 0 ? `${badBetween} forbidden line(s) or rig fault(s) between tests` : ''].filter(Boolean).join('; '));
      }
      process.exitCode = r.ok ? 0 : 1;
    });

  program
    .command('report')
    .description('re-render report.html of a run from its CSV files; with a second run, compare the two')
    .argument('<run dir>', 'a run folder')
    .argument('[other run dir]', 'a second run to compare with (verdict and latency changes)')
    .addHelpText(
      'after',
      `
Examples:
  hil report reports/20261123-130029Z
  hil report reports/20261122-020000Z reports/20261123-020000Z     last night vs tonight

Exit code: 0 done, 2 not a run folder.`,
    )
    .action(async (dir: string, other?: string) => {
      requireRunDir(dir, ['summary.csv']);
      if (other) requireRunDir(other, ['summary.csv']);
      const status = readRunStatus(dir);
      if (status.state === 'incomplete') console.error(`${dir}: ${status.note}`);
      console.log(await readRunFile(() => renderHtmlReport(dir)));
      if (other) console.log(await readRunFile(() => compareRuns(dir, other)));
    });

  program
    .command('trend')
    .description('one self-contained HTML page over the runs in a reports folder: verdict per test per run, flake rates (firmware apart from bench), p99 per device over time, property runs within budget')
    .argument('[reports]', 'the reports root', 'reports')
    .option('--out <file>', 'where to write the page (default: <reports>/trend.html)')
    .addHelpText('after', '\nExamples:\n  hil trend                      reports/trend.html over every run in reports/\n  hil trend nightly/ --out site/index.html')
    .action((root: string, o: { out?: string }) => {
      if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new ConfigError(`${root}: no reports folder`);
      console.log(renderTrend(root, o.out));
    });

  program
    .command('runs')
    .description('list recorded runs, newest first: rig, fault, start time and verdict counts')
    .option('--out <dir>', 'reports root', 'reports')
    .action((o: { out: string }) => {
      if (!fs.existsSync(o.out)) throw new ConfigError(`${o.out}: no reports folder`);
      const dirs = fs
        .readdirSync(o.out)
        .map((d) => path.join(o.out, d))
        .filter((d) => fs.existsSync(path.join(d, 'summary.csv')))
        .sort()
        .reverse();
      if (dirs.length === 0) console.log(`no runs in ${o.out}`);
      for (const d of dirs) {
        let meta: RunMeta | undefined;
        const counts = new Map<string, number>();
        try {
          meta = readMeta(d);
          for (const r of readReport(d).summary) counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
        } catch (error) {
          console.log(`${path.basename(d)}  unreadable: ${(error as Error).message}`);
          continue;
        }
        const status = readRunStatus(d);
        const flag = status.state === 'incomplete' ? 'INCOMPLETE  ' : status.state === 'running' ? 'RUNNING  ' : status.state === 'interrupted' ? 'INTERRUPTED  ' : '';
        console.log(`${path.basename(d)}  ${meta?.rig ?? '?'}${meta?.fault ? ` fault=${meta.fault}` : ''}  ${flag}${[...counts].map(([k, n]) => `${n} ${k}`).join(', ') || 'no tests'}`);
      }
    });
}
