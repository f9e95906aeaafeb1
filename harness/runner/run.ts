import type { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Mocha from 'mocha';
import { BenchInUse, ConfigError, DeathPatternError, RigFault } from '../core/errors.ts';
import { firstHeldPort } from '../hw/port-holder.ts';
import { ObservationLog, type Match } from '../core/observation-log.ts';
import type { NotJudged } from '../core/invariants/types.ts';
import { decideVerdict } from '../core/invariants/verdict.ts';
import { runStartReadyExpectation } from '../core/ready.ts';
import { cannotStartExpectation } from '../core/cannot-start.ts';
import { recoverStopped } from './reset.ts';
import { renderHtmlReport } from '../report/html-report.ts';
import type { RecordedRunStatus } from '../report/run-status.ts';
import { loadRig } from '../rig/load.ts';
import type { PortSpec } from '../rig/types.ts';
import { beginRun, endRun, RunContext, type ReplayRequest, type TestScope } from './context.ts';
import { describeHolder, takeBenchLock } from './bench-lock.ts';
import { announcePreflight, describePreflight, preflight } from './preflight.ts';
import { RunRecorder, type TestVerdict } from './recorder.ts';
import { watchLauncher } from './launcher.ts';
import { runSetupSteps, SetupStepError } from './setup-steps.ts';
import { lastUnfinishedRun, takeoverWarnings } from './takeover.ts';
import { RigSession } from './session.ts';

/** Where the shipped scenarios live. */
export const SCENARIOS_DIR = fileURLToPath(new URL('../../scenarios', import.meta.url));

export interface RunOptions {
  rig: string;
  grep?: string;
  fault?: string;
  /** Simulated bench: panel instrumentation variants (see docs/sim.md). */
  instrument?: string[];
  seed?: number;
  /** Simulated bench: how the consoles reach their ports (`direct`, `uart`, `usb-ftdi`; docs/sim.md). */
  link?: string;
  /** Reports root; the run gets its own folder under it. Default `reports`. */
  out?: string;
  /** mocha reporter for the console. Default `spec`. */
  reporter?: string;
  /** Simulated bench only: run this program as the Pi firmware. */
  dutCmd?: string;
  /** Simulated bench only: send the `dutCmd` program each GPIO change with its contact time. */
  dutEdgeTimes?: boolean;
  /** Simulated bench only: run this program as the ESP firmware. */
  espCmd?: string;
  /** Spec files to run instead of scenarios/*.spec.ts. */
  specs?: string[];
  /** Property tests: runs per property (default: each property's own, small enough for a minute-long suite). */
  runs?: number;
  /** Property tests: wall-clock budget per property, ms, after which the best counterexample so far is reported. */
  budgetMs?: number;
  /** `hil replay`: run exactly this counterexample (fast-check seed and path). */
  replay?: ReplayRequest;
  /** Colour in mocha's console output. Default: mocha's own choice (a terminal on stdout). */
  color?: boolean;
  /** Called once the run folder exists, before the bench opens (the CLI prints its banner). */
  onStart?: (start: RunStart) => void;
}

/** What a run is, as it starts. */
export interface RunStart {
  runId: string;
  dir: string;
  rig: string;
  rigFile: string;
  seed: number | undefined;
  fault: string | undefined;
  /** `serial/<device>.timed.log` of each device, to follow live. */
  consoles: string[];
}

/** One device console over a run: for the run summary and run.json. */
export interface ConsoleSummary {
  device: string;
  lines: number;
  /** Lines with bytes that are not valid UTF-8 (shown as U+FFFD). */
  invalidUtf8: number;
  /** Lines with NUL bytes. */
  nul: number;
  /** Lines cut at the length cap. */
  truncated: number;
  disconnects: number;
  /** Bytes read but left out of serial/<device>.log (its cap was reached). */
  rawLogLeftOut: number;
  /** Observations left out of observations.jsonl (the device's cap was reached). */
  observationsLeftOut: number;
}

/** `ConsoleSummary` as one line: `pi: 1200 lines, 3 with invalid UTF-8, …` (counters that are zero are left out). */
export function describeConsole(c: ConsoleSummary): string {
  const parts = [`${c.lines} lines`];
  if (c.invalidUtf8) parts.push(`${c.invalidUtf8} with invalid UTF-8`);
  if (c.nul) parts.push(`${c.nul} with NUL bytes`);
  if (c.truncated) parts.push(`${c.truncated} cut at the line length cap`);
  if (c.disconnects) parts.push(`${c.disconnects} disconnect${c.disconnects > 1 ? 's' : ''}`);
  if (c.rawLogLeftOut) parts.push(`raw log capped: ${c.rawLogLeftOut} bytes left out`);
  if (c.observationsLeftOut) parts.push(`observations.jsonl capped: ${c.observationsLeftOut} observations left out`);
  return `${c.device}: ${parts.join(', ')}`;
}

/** `run.json` in a run folder. */
export interface RunMeta {
  runId: string;
  rig: string;
  rigFile: string;
  simulated: boolean;
  fault: string | null;
  /** The program run as the Pi on the simulated bench (`--dut-cmd`), so `hil replay` runs it again. */
  dutCmd?: string;
  /** It was sent GPIO changes with their contact times (`--dut-edge-times`). */
  dutEdgeTimes?: boolean;
  seed: number | null;
  specs: string[];
  grep: string | null;
  runs: number | null;
  budgetMs: number | null;
  started: string;
  host: string;
  /** What the pre-flight found this bench cannot judge (left out of the judging; `hil check` does the same). */
  notJudged?: NotJudged[];
  /** Process that ran it (with `host`, tells a run still going from one that never finished). */
  pid: number;
  /** `running` from the start; rewritten `complete`, `interrupted` or `error` as it ends. A run still `running` that is not alive never finished. */
  status: RecordedRunStatus;
  /** When it ended (ISO time), once it has. */
  ended?: string;
  /** Each device console's counters, once it has ended. */
  consoles?: ConsoleSummary[];
  /** What opening the bench found wrong (relays a killed run left energised), in words. */
  warnings?: string[];
}

export const RUN_META_FILE = 'run.json';

export interface RunResult {
  runId: string;
  dir: string;
  passed: number;
  failed: number;
  pending: number;
  /** Death lines that appeared while no test was running (they fail the run too). */
  deathsOutsideTests: string[];
  /** Rig faults (a relay board reset or lost) while no test was running (they fail the run too). */
  faultsOutsideTests: string[];
  /** Every test's verdict, in run order. */
  verdicts: TestVerdict[];
  /** What each device console delivered, and what was odd or left out. */
  consoles?: ConsoleSummary[];
  /** The HTML report, when it could be rendered. */
  html?: string;
}

/** A test whose body passed but whose invariants did not: fails it in mocha with the reasons. */
export class InvariantFailure extends Error {
  override readonly name = 'InvariantFailure';
  readonly invariantFailure = true;
  constructor(
    readonly verdict: string,
    reasons: string[],
  ) {
    super(`${verdict}: ${reasons.join('\n  ')}`);
  }
}

/**
 * Run every test function inside its own {@link TestScope}, so commands issued by a test that
 * has already ended can be recognised and refused (a fast-check property keeps running after its
 * test timed out; without this, its presses would land in the next test), and so a body that
 * passed is judged by the invariants before mocha calls it passed.
 */
function scopeTests(suite: Mocha.Suite, als: AsyncLocalStorage<TestScope>, scopes: WeakMap<Mocha.Runnable, TestScope>, judge: (scope: TestScope) => Promise<void>, benchLost: () => Error | undefined): void {
  // A scenario's own hooks do not run against a bench that is gone (they would fail or hang on
  // it); the tests they prepare are ERROR with the cause instead. The runner's root hooks always run.
  if (!suite.root) {
    const hooks = suite as unknown as Record<'_beforeAll' | '_beforeEach' | '_afterEach' | '_afterAll', Mocha.Hook[]>;
    for (const h of [...hooks._beforeAll, ...hooks._beforeEach, ...hooks._afterEach, ...hooks._afterAll]) {
      const fn = h.fn;
      if (!fn) continue;
      h.fn =
        fn.length > 0
          ? function (this: Mocha.Context, done: Mocha.Done) {
              if (benchLost()) return done();
              return (fn as Mocha.Func).call(this, done);
            }
          : function (this: Mocha.Context) {
              if (benchLost()) return;
              return (fn as Mocha.AsyncFunc).call(this);
            };
    }
  }
  for (const t of suite.tests) {
    const fn = t.fn;
    if (!fn) continue;
    const scope: TestScope = { title: t.fullTitle(), suite: t.parent?.fullTitle() ?? '', name: t.title, scenario: t.file ? path.basename(t.file) : '', specFile: t.file ?? '', ended: false };
    scopes.set(t, scope);
    t.fn =
      fn.length > 0
        ? function (this: Mocha.Context, done: Mocha.Done) {
            const lost = benchLost();
            if (lost) throw lost;
            return als.run(scope, () => (fn as Mocha.Func).call(this, done));
          }
        : function (this: Mocha.Context) {
            // Nothing runs against a bench that is gone: the test is ERROR with the cause.
            const lost = benchLost();
            if (lost) return Promise.reject(lost);
            return als.run(scope, async () => {
              // A death line or rig fault fails the test through its own promise (mocha counts an
              // uncaught error and a later settle as two failures); the body, if it goes on, is
              // refused any further command once the test has ended.
              const aborted = new Promise<never>((_, reject) => (scope.abort = reject));
              const body = (fn as Mocha.AsyncFunc).call(this);
              try {
                await Promise.race([body, aborted]);
              } finally {
                scope.bodyDone = true;
                scope.abort = undefined;
              }
              await judge(scope);
            });
          };
  }
  for (const s of suite.suites) scopeTests(s, als, scopes, judge, benchLost);
}

export function listScenarios(): string[] {
  return fs
    .readdirSync(SCENARIOS_DIR)
    .filter((f) => f.endsWith('.spec.ts'))
    .sort();
}

function runId(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-');
}

/**
 * `mkdir -p`, one level at a time. Node's recursive mkdirSync never returns where a parent
 * exists but refuses the child with ENOENT (`--out /proc/reports` spun at full CPU forever).
 */
function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) {
    missing.push(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/**
 * The reports root must take files before anything starts (no bench opened, no folder claimed):
 * a usage error in one line otherwise, not a stack trace mid-run.
 */
export function checkWritable(outDir: string, given: string): void {
  const probe = path.join(outDir, `.hil-write-check-${process.pid}`);
  try {
    makeDirs(outDir);
    fs.writeFileSync(probe, 'hil\n');
    fs.unlinkSync(probe);
  } catch (error) {
    try {
      fs.rmSync(probe, { force: true });
    } catch {
      // nothing was created
    }
    throw new ConfigError(`--out ${given}: cannot write reports there (${(error as Error).message}); give a folder this user can write`, outDir);
  }
}

/**
 * A fresh folder for this run: `20261123-155045Z`, or `20261123-155045Z-2`… when another run (two
 * benches' jobs sharing one reports folder, a quick re-run) started in the same second. The
 * exclusive mkdir decides, so two runs never write into one folder.
 */
export function claimRunDir(outDir: string): { id: string; dir: string } {
  fs.mkdirSync(outDir, { recursive: true });
  const base = runId();
  for (let n = 1; ; n++) {
    const id = n === 1 ? base : `${base}-${n}`;
    const dir = path.join(outDir, id);
    try {
      fs.mkdirSync(dir);
      return { id, dir };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || n >= 1000) throw error;
    }
  }
}

/**
 * Run the scenarios on a rig: open it (starting the sim for the simulated rig), run mocha over
 * scenarios/*.spec.ts, close everything whatever happened. Config errors throw before anything is
 * opened.
 */
export async function runScenarios(options: RunOptions): Promise<RunResult> {
  // One context per run, handed explicitly to everything below; the scenarios reach it through
  // the one slot (see beginRun), taken before anything is opened and given back whatever happened.
  const ctx = new RunContext(options.replay ? { replay: options.replay } : {});
  beginRun(ctx);
  try {
    return await runWith(ctx, options);
  } finally {
    ctx.benchLock?.release();
    endRun(ctx);
  }
}

async function runWith(ctx: RunContext, options: RunOptions): Promise<RunResult> {
  const files = options.specs?.length ? options.specs.map((f) => path.resolve(f)) : listScenarios().map((f) => path.join(SCENARIOS_DIR, f));
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length > 0) throw new ConfigError(`no such spec file: ${missing.join(', ')}`);
  const outDir = path.resolve(options.out ?? 'reports');
  checkWritable(outDir, options.out ?? 'reports');
  const { rig, file: rigFile } = await loadRig(options.rig);
  // A real bench has one user at a time: its lock first, before any port is looked at. The
  // simulated bench is this run's own and takes none.
  if (!rig.simulated) ctx.benchLock = takeBenchLock(rig.name);
  // Before anything moves: the invariants this bench cannot support, said in words and not judged.
  // A port another process holds (a second harness): the bench is in use. Said before anything is
  // claimed, so no run folder is left behind; nothing is opened to find out.
  const held = await firstHeldPort([...Object.entries(rig.boards), ...Object.entries(rig.devices)].map(([name, p]) => [name, p.port] as [string, PortSpec]));
  if (held) throw held;
  const pre = announcePreflight(preflight(rig, { dutCmd: options.dutCmd }));
  const { id, dir } = claimRunDir(outDir);
  // Property sizes: the command line, else the rig, else each property's own default.
  const runs = options.runs ?? rig.properties?.runs;
  const budgetMs = options.budgetMs ?? rig.properties?.budgetMs;
  // What this run was, for `hil check`, `hil replay` and a reader of the folder.
  const meta: RunMeta = {
    runId: id,
    rig: rig.name,
    rigFile,
    simulated: rig.simulated === true,
    fault: options.fault ?? null,
    ...(options.dutCmd ? { dutCmd: options.dutCmd } : {}),
    ...(options.dutEdgeTimes ? { dutEdgeTimes: true } : {}),
    seed: options.seed ?? null,
    specs: files.map((f) => path.relative(process.cwd(), f)),
    grep: options.grep ?? null,
    runs: runs ?? null,
    budgetMs: budgetMs ?? null,
    started: new Date().toISOString(),
    host: os.hostname(),
    ...(pre.notJudged.length > 0 ? { notJudged: pre.notJudged } : {}),
    pid: process.pid,
    status: 'running',
  };
  fs.writeFileSync(path.join(dir, RUN_META_FILE), JSON.stringify(meta, null, 2) + '\n');
  /** Record how the run ended (first call wins). */
  let ended = false;
  const markEnded = (status: Exclude<RecordedRunStatus, 'running'>, consoles?: ConsoleSummary[]): void => {
    if (ended) return;
    ended = true;
    try {
      writeRunMeta(dir, { ...meta, status, ended: new Date().toISOString(), ...(consoles ? { consoles } : {}) });
    } catch {
      // an unwritable folder is reported by what failed to write before; the run still ends
    }
  };
  options.onStart?.({ runId: id, dir, rig: rig.name, rigFile, seed: options.seed, fault: options.fault, consoles: Object.keys(rig.devices).map((d) => path.join(dir, 'serial', `${d}.timed.log`)) });
  // The log exists before the bench opens, so observations.jsonl and the invariants see all of it.
  const log = new ObservationLog();
  const recorder = new RunRecorder(dir, id, rig, log, { limits: pre.limits, runNotes: describePreflight(pre) });
  const gone = ctx.benchLock?.tookOver;
  if (gone) {
    const note = `bench lock taken over from ${describeHolder(gone)}: that process is gone (killed, or the machine lost power)`;
    log.record('harness', 'note', { what: note });
    recorder.addRunNote(note);
    process.stderr.write(`note: ${note}\n`);
  }
  // Bench preparation first: a flasher needs the device's port, so nothing is open yet.
  if (rig.setup?.length) {
    // Steps run in their own process groups (so a timeout can kill all of a flasher): Ctrl-C
    // reaches them through this signal.
    const ac = new AbortController();
    const onInt = (): void => ac.abort(new Error('bench preparation interrupted (Ctrl-C)'));
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onInt);
    try {
      await runSetupSteps(rig.setup, log, { signal: ac.signal, onOutput: (step, line) => process.stderr.write(`[setup ${step}] ${line}\n`), onAttempt: (a) => recorder.recordSetupAttempt(a) });
    } catch (error) {
      if (!(error instanceof SetupStepError) && !ac.signal.aborted) throw error;
      const step = error instanceof SetupStepError ? error.step : 'interrupted';
      const why = ac.signal.aborted ? 'bench preparation interrupted (Ctrl-C): the running step and its processes were stopped' : (error as Error).message;
      recorder.recordSetupFailure(step, why, ac.signal.aborted ? 'ABORTED' : 'ERROR');
      recorder.close();
      markEnded(ac.signal.aborted ? 'interrupted' : 'complete');
      const html = tryRender(dir);
      return { runId: id, dir, passed: 0, failed: 1, pending: 0, deathsOutsideTests: [], faultsOutsideTests: [], verdicts: recorder.verdicts, ...(html ? { html } : {}) };
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onInt);
    }
  }
  let session: RigSession;
  try {
    session = await RigSession.open(rig, {
      outDir: dir,
      log,
      ...(options.fault ? { fault: options.fault } : {}),
      ...(options.instrument?.length ? { instrument: options.instrument } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.link ? { link: options.link } : {}),
      ...(options.dutCmd ? { dutCmd: options.dutCmd } : {}),
      ...(options.dutEdgeTimes ? { dutEdgeTimes: true } : {}),
      ...(options.espCmd ? { espCmd: options.espCmd } : {}),
    });
  } catch (error) {
    recorder.close();
    // Taken between the check above and the open: still the bench in use, and still no run folder.
    if (error instanceof BenchInUse) fs.rmSync(dir, { recursive: true, force: true });
    else markEnded('error');
    throw error;
  }
  // Relays a killed run left energised were released by the takeover: say so, by channel and for
  // how long they may have been held, on the console, in the log and on the first test's row.
  const warnings = takeoverWarnings(session.boards.values(), () => lastUnfinishedRun(outDir, rig.name, id));
  for (const w of warnings) {
    log.record('harness', 'warning', { what: w });
    recorder.addRunNote(`warning: ${w}`);
    process.stderr.write(`warning: ${w}\n`);
  }
  if (warnings.length > 0) {
    meta.warnings = warnings;
    try {
      writeRunMeta(dir, meta);
    } catch {
      // the console and the first row have it; a failing disk is reported by the recorder
    }
  }
  ctx.attach(session, {
    settings: {
      ...(runs !== undefined ? { runs } : {}),
      ...(budgetMs !== undefined ? { budgetMs } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
    },
    replayDir: dir,
  });
  session.invariants = recorder.monitor;
  session.links = pre.links;
  // Every run starts with every device ready for input: a press before it would be lost (and
  // rightly counted as a violation). A device whose program says, before it was ever ready, that
  // it cannot start (a module it imports is missing, …) has firmware that never ran: every test
  // is ERROR with that line, at once, rather than FAIL on its traceback after the boot time.
  const cannotStart: Array<{ device: string; line: string; index: number }> = [];
  await Promise.all(
    Object.entries(rig.devices).map(async ([name, d]) => {
      const bootMs = rig.power[name]?.bootMs ?? 10_000;
      const within = bootMs + 10_000;
      const settled = new AbortController();
      // A device already up and beating need not wait out boot time + 10 s for a line it printed at boot.
      const ready = log.waitFor(runStartReadyExpectation(name, d.ready, bootMs), { within, from: 0, signal: settled.signal });
      const broken = log.waitFor(cannotStartExpectation(name), { within, from: 0, signal: settled.signal });
      let died = false;
      let outcome = await new Promise<'ready' | 'late' | Match>((resolve) => {
        ready.then(
          () => resolve('ready'),
          (e: unknown) => {
            died = e instanceof DeathPatternError && e.source === name;
            resolve('late');
          },
        );
        broken.then(resolve, () => undefined);
      });
      settled.abort();
      // A death line fails every waiter, this one too: a traceback's first line comes before the
      // line that says why, so look for that line a moment longer.
      if (outcome === 'late' && died) outcome = (await log.waitFor(cannotStartExpectation(name), { within: 2000, from: 0 }).catch(() => undefined)) ?? 'late';
      if (outcome === 'late') {
        log.record('harness', 'note', { what: `${name} did not say it was ready within ${within} ms; running anyway` });
        process.stderr.write(`warning: ${name} did not say it was ready within ${within} ms; its tests will show why\n`);
      } else if (outcome !== 'ready') {
        cannotStart.push({ device: name, line: outcome.observation.text ?? '', index: outcome.index });
      }
    }),
  );
  if (cannotStart.length > 0) {
    const what = cannotStart.map((c) => `${c.device}'s console says "${c.line}" (#${c.index}) before it was ever ready`).join('; ');
    const fault = new RigFault(
      `${cannotStart.map((c) => c.device).join(' and ')} cannot start on this bench: ${what}. Its firmware never ran, so no test can judge it: install what it needs (or fix the command that starts it) and run again`,
      cannotStart[0]!.device,
    );
    ctx.state.benchLost = fault;
    // Its traceback tripped the death watch: that is this fault, not a death of firmware that ran.
    session.deathWatch.take();
    log.record('harness', 'cannot_start', { what: fault.message });
    process.stderr.write(`\n${fault.message}.\nevery test is ERROR; nothing is pressed on this bench.\n`);
  }
  // One place for what the run is doing: the running test, the stop, a bench gone for good.
  const state = ctx.state;
  state.start();
  // A death line fails the running test the moment it appears, even one that is not waiting on
  // anything: mocha fails the current test on an error thrown asynchronously during it. One
  // asynchronous failure per test: a second one (a crash prints several death lines) must not land
  // in the test's afterEach, where mocha would count it as a hook failing twice.
  const failRunningTest = (err: Error): boolean => {
    if (!state.inTest) return false;
    // A test already failed this way has its cause: what follows from the same failure (a crash's
    // further lines, every part of a bench that died) adds nothing to it.
    if (state.failedAsync) return true;
    // Its body has settled while its window settles: aborting it now would drop the error on the
    // floor (a Traceback 220 ms after a test's last wait was lost so, and the next test read the
    // dead firmware as HUNG). The window judges a death line that lands in it; what lands after
    // stays for the end of the run, as between tests.
    if (state.running?.bodyDone) return false;
    // A property judges its own runs by the invariants (death patterns included) and shrinks.
    if (state.running?.inProperty && !(err as { rigFault?: boolean }).rigFault) return true;
    state.failedAsync = true;
    const abort = state.running?.abort;
    if (abort) abort(err);
    else
      setImmediate(() => {
        if (state.inTest) throw err;
      });
    return true;
  };
  const offDeath = session.deathWatch.onDeath((err) => {
    // Outside a test it stays in deathWatch.tripped: reported and failing at the end.
    if (failRunningTest(err)) session.deathWatch.take();
  });
  // A relay board that resets or vanishes fails the running test as a rig fault.
  const faultsOutsideTests: string[] = [];
  const offFault = session.onFault((fault) => {
    // Gone for good: every later test is ERROR with this cause (the first one found).
    if ((fault as { gone?: boolean }).gone && !state.benchLost) {
      state.benchLost = fault;
      log.record('harness', 'bench_lost', { what: fault.message });
      process.stderr.write(`\nbench lost: ${fault.message}\nevery remaining test is ERROR; nothing more runs on this bench.\n`);
    }
    if (!failRunningTest(fault)) faultsOutsideTests.push(fault.message);
  });
  // A write that fails (a full disk) stops the run cleanly: the running test is ERROR with the
  // cause, nothing more is commanded, the relays are released, and the space the recorder set
  // aside takes the run's last records.
  const offWrite = recorder.onWriteFailure((error) => {
    const code = (error as NodeJS.ErrnoException).code;
    const what = code === 'ENOSPC' || code === 'EDQUOT' ? 'disk full' : 'storage failure';
    const fault = new RigFault(`${what}: the run's records cannot be written (${error.message}); the run stops here with the relays released`, 'storage');
    log.record('harness', 'storage_failed', { what, error: error.message });
    process.stderr.write(`\n${fault.message}\n`);
    state.benchLost ??= fault;
    session.stop(what);
    failRunningTest(fault);
    runner?.abort();
  });
  // Commands from a test that has ended are refused (see scopeTests).
  const als = ctx.scopes;
  const scopes = new WeakMap<Mocha.Runnable, TestScope>();
  /** Tests whose verdict is written (or being written). */
  const finished = new WeakSet<Mocha.Test>();
  /** The failed scenario hook (before/after each) that decides a test's verdict. */
  const hookCause = new WeakMap<Mocha.Test, Error>();
  session.setGuard((what) => {
    if (state.benchLost) throw state.benchLost;
    const scope = als.getStore();
    if (scope?.ended) session.log.record('harness', 'refused', { what, test: scope.title });
    if (scope?.ended) throw new Error(`"${scope.title}" has already ended (failed or timed out); ${what} refused — the relays were parked when it ended`);
  });
  let runner: Mocha.Runner | undefined;
  let stopping: Promise<never> | undefined;
  // A stop is a state of the run. First SIGINT/SIGTERM: record it, refuse every later command and
  // cut bursts short, release — in that order and synchronously, so nothing can energise a relay
  // after this handler — then record the running test as ABORTED, close everything in order and
  // exit 130. A second signal exits at once: a synchronous release written straight to the
  // boards, the running test's ABORTED row, junit.xml and report.html, exit 130.
  const onSignal = (sig: NodeJS.Signals, why = '') => {
    if (state.signal(sig, log.clock.now()) === 'again') {
      session.emergencyReleaseSync(`${sig} again`);
      const r = state.running?.record;
      try {
        if (r) recorder.finishNow(r, 'ABORTED', `the run was interrupted while this test ran (${state.stop!.signal}, then ${sig}: exited at once)`);
      } catch {
        // the files are closed below whatever happened
      }
      recorder.close();
      markEnded('interrupted');
      tryRender(dir);
      process.stderr.write(`\n${sig} again: exiting now; relays released.\n`);
      process.exit(130);
    }
    log.record('harness', 'stop', { signal: sig, ...(why ? { why } : {}) });
    session.stop(sig);
    runner?.abort();
    process.stderr.write(`\n${sig}${why ? ` (${why})` : ''}: stopping the run, releasing the bench… (again to exit at once)\n`);
    stopping = (async () => {
      const r = state.running?.record;
      if (r) await recorder.finish(r, { interrupted: true }).catch(() => undefined);
      await recorder.settled();
      recorder.close();
      markEnded('interrupted');
      const html = tryRender(dir);
      await session.close();
      process.stderr.write(`report (interrupted run): ${html ?? dir}\n`);
      process.exit(130);
    })();
  };
  // (A signal listener also gets the signal's number: not a reason.)
  const onProcessSignal = (sig: NodeJS.Signals): void => onSignal(sig);
  process.on('SIGINT', onProcessSignal);
  process.on('SIGTERM', onProcessSignal);
  process.on('SIGHUP', onProcessSignal);
  // A launcher that dies without passing its signal on (npm's `sh -c`) is a stop too.
  const offLauncher = watchLauncher(() => onSignal('SIGHUP', 'the launcher that started hil went away (npm, npx or a shell killed)'));
  /** A body that passed is judged by its invariants; a violation fails it in mocha too. */
  const judge = async (scope: TestScope): Promise<void> => {
    if (!scope.record) return;
    const r = await recorder.closeWindow(scope.record);
    const { verdict, reasons } = decideVerdict(r.violations);
    if (verdict !== 'PASS') throw new InvariantFailure(verdict, reasons);
  };
  try {
    const mocha = new Mocha({ timeout: 60_000, reporter: options.reporter ?? 'spec', ...(options.grep ? { grep: options.grep } : {}), ...(options.color !== undefined ? { color: options.color } : {}) });
    for (const f of files) mocha.addFile(f);
    mocha.rootHooks({
      beforeEach(this: Mocha.Context) {
        const t = this.currentTest;
        const scope = t ? scopes.get(t) : undefined;
        state.enter(scope);
        if (scope) scope.record = recorder.begin(scope.title, scope.scenario, { suite: scope.suite, test: scope.name });
      },
      async afterEach(this: Mocha.Context) {
        state.leave();
        const t = this.currentTest;
        const scope = t ? scopes.get(t) : undefined;
        if (scope) scope.ended = true;
        // Park: whatever the test left held (it failed mid-press, timed out, forgot) is released.
        session.releaseAll(`after test: ${t?.title ?? '?'}`);
        if (!scope?.record || state.phase === 'stopping') return;
        state.running = undefined;
        if (t) finished.add(t);
        // A scenario hook that failed around this test (its beforeEach or afterEach) is its verdict.
        const err: (Error & { invariantFailure?: boolean; code?: string }) | undefined = t?.err ?? (t ? hookCause.get(t) : undefined);
        if (scope.property) scope.record.property = scope.property;
        try {
          const v = await recorder.finish(scope.record, {
            ...(err && !err.invariantFailure ? { error: err } : {}),
            timedOut: err?.code === 'ERR_MOCHA_TIMEOUT',
          });
          // A death line its window judged is this test's verdict, not also a death between tests.
          const judgedAt = new Set(v.violations.filter((x) => x.invariant === 'death-pattern').map((x) => x.at));
          session.deathWatch.dropJudged((e) => e.at !== undefined && judgedAt.has(e.at));
          if (!state.benchLost && v.violations.some((x) => x.kind === 'hung' || x.invariant === 'death-pattern')) {
            this.timeout(Math.max(...Object.values(rig.power).map((p) => p.minOffMs + p.bootMs), 0) + 30_000);
            await recoverHung(session, v);
          }
        } catch (e) {
          session.log.record('harness', 'note', { what: 'recording the test failed', error: (e as Error).message });
        }
      },
    });
    try {
      await mocha.loadFilesAsync();
    } catch (error) {
      // A scenario that does not compile or throws while loading: a usage error (exit 2) in
      // words, with the bench already parked by the finally below.
      throw new ConfigError(describeLoadError(error, files));
    }
    scopeTests(mocha.suite, als, scopes, judge, () => state.benchLost);
    const grep = options.grep ? new RegExp(options.grep) : undefined;
    /**
     * A scenario hook failed: it is a verdict on every test it covers — never a test gone missing.
     * `before all`/`before each`: the tests of its suite not run yet; `after each`: the test it
     * followed and those mocha now skips; `after all`: its own row (its tests have theirs).
     */
    const onHookFail = (hook: Mocha.Hook, err: Error): void => {
      const suite = hook.parent;
      if (!suite || suite.root) return;
      const { verdict, reasons } = decideVerdict([], { error: err });
      const why = [`${hook.title.replace(/^"(.*?)" hook.*$/, '$1')} hook failed: ${reasons[0] ?? err.message}`];
      const kind = /^"(before all|before each|after each|after all)"/.exec(hook.title)?.[1];
      // mocha also points a before-all hook's context at the first test: only the each-hooks have one.
      const current = kind === 'before each' || kind === 'after each' ? hook.ctx?.currentTest : undefined;
      if (kind === 'after all') {
        recorder.recordNotRun(hook.fullTitle(), scenarioOf(suite), verdict, why);
        return;
      }
      // The test around which it ran gets it as its error (our afterEach records it).
      if (current && !finished.has(current)) {
        const flags = err as { rigFault?: boolean; expectationFailed?: boolean; deathPattern?: boolean };
        hookCause.set(current, Object.assign(new Error(`${kind} hook failed: ${err.message}`), { name: err.name, rigFault: flags.rigFault, expectationFailed: flags.expectationFailed, deathPattern: flags.deathPattern }));
      }
      const skipped: Mocha.Test[] = [];
      const walk = (s: Mocha.Suite) => {
        for (const t of s.tests) if (t !== current && !finished.has(t) && !t.isPending() && (!grep || grep.test(t.fullTitle()))) skipped.push(t);
        for (const c of s.suites) walk(c);
      };
      walk(suite);
      for (const t of skipped) {
        finished.add(t);
        recorder.recordNotRun(t.fullTitle(), scenarioOf(t), verdict, why);
      }
    };
    const stats = await new Promise<Mocha.Stats>((resolve) => {
      const r = mocha.run(() => resolve(r.stats!));
      r.on('fail', (runnable: Mocha.Runnable, err: Error) => {
        if ((runnable as { type?: string }).type === 'hook') onHookFail(runnable as Mocha.Hook, err);
      });
      runner = r;
    });
    // Stopped: the stop closes the run and exits 130; the tests mocha ended meanwhile change nothing.
    if (stopping) await stopping;
    state.finish();
    const deaths = session.deathWatch.take();
    const deathsOutsideTests = deaths.map((e) => e.message);
    recorder.recordDeathsBetweenTests(deaths);
    recorder.close();
    const leftOut = recorder.observationsLeftOut();
    const consoles = [...session.sources].map(([device, src]): ConsoleSummary => {
      const st = src.stats();
      const raw = (src as { rawLeftOut?: number }).rawLeftOut ?? 0;
      return { device, lines: st.lines, invalidUtf8: st.invalidUtf8, nul: st.nul, truncated: st.truncated, disconnects: st.disconnects, rawLogLeftOut: raw, observationsLeftOut: leftOut.get(device) ?? 0 };
    });
    markEnded(recorder.writeFailure ? 'error' : 'complete', consoles);
    const html = tryRender(dir);
    return {
      runId: id,
      dir,
      passed: stats.passes,
      failed: stats.failures,
      pending: stats.pending,
      deathsOutsideTests,
      faultsOutsideTests,
      verdicts: recorder.verdicts,
      consoles,
      ...(html ? { html } : {}),
    };
  } finally {
    offDeath();
    offFault();
    offWrite();
    process.off('SIGINT', onProcessSignal);
    process.off('SIGTERM', onProcessSignal);
    process.off('SIGHUP', onProcessSignal);
    offLauncher();
    ctx.detach();
    recorder.close();
    markEnded('error');
    await session.close();
  }
}

/** Rewrite `run.json` whole (temporary file, then rename: a reader never sees half of it). */
function writeRunMeta(dir: string, meta: RunMeta): void {
  const file = path.join(dir, RUN_META_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, JSON.stringify(meta, null, 2) + '\n');
    fs.renameSync(tmp, file);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw error;
  }
}

/** The spec file name a test or suite comes from (`10-buttons.spec.ts`). */
function scenarioOf(r: Mocha.Runnable | Mocha.Suite): string {
  return r.file ? path.basename(r.file) : '';
}

/** `cannot load scenario scenarios/x.spec.ts:12: SyntaxError: Unexpected token` from whatever the loader threw. */
export function describeLoadError(error: unknown, files: readonly string[]): string {
  const e = error instanceof Error ? error : new Error(String(error));
  // A CommonJS-compiled syntax error's stack starts with "file:line"; esbuild's and ESM's name the
  // file in the message; otherwise the first spec file in the stack.
  const head = /^(\/[^\n]*?):(\d+)$/m.exec(e.stack?.split('\n')[0] ?? '');
  const rel = (f: string) => {
    const abs = f.replace(/^file:\/\//, '');
    const r = path.relative(process.cwd(), abs);
    return r.startsWith('..') ? abs : r;
  };
  const named = files.find((f) => e.message.includes(f)) ?? files.find((f) => e.stack?.includes(f));
  const where = head ? `${rel(head[1]!)}:${head[2]}` : named && rel(named);
  const what = `${e.name}: ${e.message.split('\n').find((l) => l.trim() !== '') ?? ''}`;
  return `cannot load ${where ? `scenario ${where}` : 'the scenarios'}: ${what}`;
}

function tryRender(dir: string): string | undefined {
  try {
    return renderHtmlReport(dir);
  } catch (e) {
    process.stderr.write(`report.html not written: ${(e as Error).message}\n`);
    return undefined;
  }
}

/** The devices a HUNG test's verdict says stopped, power-cycled back to ready ({@link recoverStopped}), so the run goes on with the next test. */
async function recoverHung(session: RigSession, v: TestVerdict): Promise<void> {
  // Stopped devices, and devices whose firmware printed a death line (a thread died: it will not
  // recover by itself).
  const devices = [...new Set(v.violations.filter((x) => x.kind === 'hung' || x.invariant === 'death-pattern').map((x) => x.device))];
  for (const device of devices) await recoverStopped(session, device);
}
