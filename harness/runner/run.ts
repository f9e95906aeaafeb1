import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Mocha from 'mocha';
import { ConfigError } from '../core/errors.ts';
import { ObservationLog } from '../core/observation-log.ts';
import { decideVerdict } from '../core/invariants/verdict.ts';
import { readyExpectation } from '../core/ready.ts';
import { renderHtmlReport } from '../report/html-report.ts';
import { loadRig } from '../rig/load.ts';
import { setRunSettings, setSession, setTestScopeStorage, type TestScope } from './context.ts';
import { setPropertyProgress, setPropertyRunContext, type ReplayRequest } from './property.ts';
import { RunRecorder, type TestVerdict } from './recorder.ts';
import { runSetupSteps, SetupStepError } from './setup-steps.ts';
import { RigSession } from './session.ts';

/** Where the shipped scenarios live. */
export const SCENARIOS_DIR = fileURLToPath(new URL('../../scenarios', import.meta.url));

export interface RunOptions {
  rig: string;
  grep?: string;
  fault?: string;
  seed?: number;
  /** Reports root; the run gets its own folder under it. Default `reports`. */
  out?: string;
  /** mocha reporter for the console. Default `spec`. */
  reporter?: string;
  /** Simulated bench only: run this program as the Pi firmware. */
  dutCmd?: string;
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

/** `run.json` in a run folder. */
export interface RunMeta {
  runId: string;
  rig: string;
  rigFile: string;
  simulated: boolean;
  fault: string | null;
  seed: number | null;
  specs: string[];
  grep: string | null;
  runs: number | null;
  budgetMs: number | null;
  started: string;
  host: string;
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
function scopeTests(suite: Mocha.Suite, als: AsyncLocalStorage<TestScope>, scopes: WeakMap<Mocha.Runnable, TestScope>, judge: (scope: TestScope) => Promise<void>): void {
  for (const t of suite.tests) {
    const fn = t.fn;
    if (!fn) continue;
    const scope: TestScope = { title: t.fullTitle(), suite: t.parent?.fullTitle() ?? '', name: t.title, scenario: t.file ? path.basename(t.file) : '', specFile: t.file ?? '', ended: false };
    scopes.set(t, scope);
    t.fn =
      fn.length > 0
        ? function (this: Mocha.Context, done: Mocha.Done) {
            return als.run(scope, () => (fn as Mocha.Func).call(this, done));
          }
        : function (this: Mocha.Context) {
            return als.run(scope, async () => {
              // A death line or rig fault fails the test through its own promise (mocha counts an
              // uncaught error and a later settle as two failures); the body, if it goes on, is
              // refused any further command once the test has ended.
              const aborted = new Promise<never>((_, reject) => (scope.abort = reject));
              const body = (fn as Mocha.AsyncFunc).call(this);
              await Promise.race([body, aborted]);
              await judge(scope);
            });
          };
  }
  for (const s of suite.suites) scopeTests(s, als, scopes, judge);
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
  const files = options.specs?.length ? options.specs.map((f) => path.resolve(f)) : listScenarios().map((f) => path.join(SCENARIOS_DIR, f));
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length > 0) throw new ConfigError(`no such spec file: ${missing.join(', ')}`);
  const { rig, file: rigFile } = await loadRig(options.rig);
  const { id, dir } = claimRunDir(path.resolve(options.out ?? 'reports'));
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
    seed: options.seed ?? null,
    specs: files.map((f) => path.relative(process.cwd(), f)),
    grep: options.grep ?? null,
    runs: runs ?? null,
    budgetMs: budgetMs ?? null,
    started: new Date().toISOString(),
    host: os.hostname(),
  };
  fs.writeFileSync(path.join(dir, RUN_META_FILE), JSON.stringify(meta, null, 2) + '\n');
  options.onStart?.({ runId: id, dir, rig: rig.name, rigFile, seed: options.seed, fault: options.fault, consoles: Object.keys(rig.devices).map((d) => path.join(dir, 'serial', `${d}.timed.log`)) });
  // The log exists before the bench opens, so observations.jsonl and the invariants see all of it.
  const log = new ObservationLog();
  const recorder = new RunRecorder(dir, id, rig, log);
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
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.dutCmd ? { dutCmd: options.dutCmd } : {}),
    });
  } catch (error) {
    recorder.close();
    throw error;
  }
  setSession(session);
  session.invariants = recorder.monitor;
  setRunSettings({
    ...(runs !== undefined ? { runs } : {}),
    ...(budgetMs !== undefined ? { budgetMs } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
  });
  // Every run starts with every device ready for input: a press before it would be lost (and
  // rightly counted as a violation).
  await Promise.all(
    Object.entries(rig.devices).map(async ([name, d]) => {
      const within = (rig.power[name]?.bootMs ?? 10_000) + 10_000;
      try {
        await log.waitFor(readyExpectation(name, d.ready), { within, from: 0 });
      } catch {
        log.record('harness', 'note', { what: `${name} did not say it was ready within ${within} ms; running anyway` });
        process.stderr.write(`warning: ${name} did not say it was ready within ${within} ms; its tests will show why\n`);
      }
    }),
  );
  // A death line fails the running test the moment it appears, even one that is not waiting on
  // anything: mocha fails the current test on an error thrown asynchronously during it.
  let testRunning = false;
  // One asynchronous failure per test: a second one (a crash prints several death lines) must not
  // land in the test's afterEach, where mocha would count it as a hook failing twice.
  let failedAsync = false;
  const failRunningTest = (err: Error): boolean => {
    if (!testRunning) return false;
    // A property judges its own runs by the invariants (death patterns included) and shrinks.
    if (running?.inProperty && !(err as { rigFault?: boolean }).rigFault) return true;
    if (failedAsync) return true;
    failedAsync = true;
    const abort = running?.abort;
    if (abort) abort(err);
    else
      setImmediate(() => {
        if (testRunning) throw err;
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
    if (!failRunningTest(fault)) faultsOutsideTests.push(fault.message);
  });
  // Commands from a test that has ended are refused (see scopeTests).
  const als = new AsyncLocalStorage<TestScope>();
  setTestScopeStorage(als);
  setPropertyRunContext({ replayDir: dir, ...(options.replay ? { replay: options.replay } : {}) });
  setPropertyProgress(() => ({ presses: session.live.presses, requests: session.live.requests, queues: [...session.live.depth].map(([d, n]) => `${d} ${n}`).join(' ') }));
  const scopes = new WeakMap<Mocha.Runnable, TestScope>();
  session.setGuard((what) => {
    const scope = als.getStore();
    if (scope?.ended) session.log.record('harness', 'refused', { what, test: scope.title });
    if (scope?.ended) throw new Error(`"${scope.title}" has already ended (failed or timed out); ${what} refused — the relays were parked when it ended`);
  });
  let running: TestScope | undefined;
  let interrupted = false;
  // First Ctrl-C (or SIGTERM): release, record the running test as ABORTED, close everything in
  // order, exit 130. A second Ctrl-C exits at once — after a synchronous release written straight
  // to the boards and the report files closed.
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    interrupted = true;
    if (interrupts > 1) {
      process.stderr.write(`\n${sig} again: exiting now; relays released.\n`);
      session.emergencyReleaseSync(`${sig} again`);
      recorder.close();
      process.exit(130);
    }
    process.stderr.write(`\n${sig}: stopping the run, releasing the bench… (again to exit at once)\n`);
    session.releaseAll(sig);
    void (async () => {
      const r = running;
      if (r?.record) await recorder.finish(r.record, { interrupted: true }).catch(() => undefined);
      recorder.close();
      const html = tryRender(dir);
      await session.close();
      process.stderr.write(`report (interrupted run): ${html ?? dir}\n`);
      process.exit(130);
    })();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
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
        testRunning = true;
        failedAsync = false;
        const t = this.currentTest;
        const scope = t ? scopes.get(t) : undefined;
        if (scope) {
          scope.record = recorder.begin(scope.title, scope.scenario, { suite: scope.suite, test: scope.name });
          running = scope;
        }
      },
      async afterEach(this: Mocha.Context) {
        testRunning = false;
        const t = this.currentTest;
        const scope = t ? scopes.get(t) : undefined;
        if (scope) scope.ended = true;
        // Park: whatever the test left held (it failed mid-press, timed out, forgot) is released.
        session.releaseAll(`after test: ${t?.title ?? '?'}`);
        if (!scope?.record || interrupted) return;
        running = undefined;
        const err: (Error & { invariantFailure?: boolean; code?: string }) | undefined = t?.err;
        if (scope.property) scope.record.property = scope.property;
        try {
          const v = await recorder.finish(scope.record, {
            ...(err && !err.invariantFailure ? { error: err } : {}),
            timedOut: err?.code === 'ERR_MOCHA_TIMEOUT',
          });
          if (v.violations.some((x) => x.kind === 'hung' || x.invariant === 'death-pattern')) {
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
    scopeTests(mocha.suite, als, scopes, judge);
    const stats = await new Promise<Mocha.Stats>((resolve) => {
      const runner = mocha.run(() => resolve(runner.stats!));
    });
    const deathsOutsideTests = session.deathWatch.take().map((e) => e.message);
    recorder.close();
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
      ...(html ? { html } : {}),
    };
  } finally {
    offDeath();
    offFault();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    setSession(undefined);
    setRunSettings({});
    setTestScopeStorage(undefined);
    setPropertyRunContext({});
    setPropertyProgress(undefined);
    recorder.close();
    await session.close();
  }
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

/**
 * A device that stopped: keep its last lines (they are in the raw log and the report), cut its
 * power through its relay for the rig's minOffMs, and wait for it to say it is ready, so the run
 * goes on with the next test. Recorded as `harness.recovery`.
 */
async function recoverHung(session: RigSession, v: TestVerdict): Promise<void> {
  // Stopped devices, and devices whose firmware printed a death line (a thread died: it will not
  // recover by itself).
  const devices = [...new Set(v.violations.filter((x) => x.kind === 'hung' || x.invariant === 'death-pattern').map((x) => x.device))];
  for (const device of devices) {
    const spec = session.rig.power[device];
    if (!spec) {
      session.log.record('harness', 'recovery', { device, outcome: 'no power relay on this rig: left as it is' });
      continue;
    }
    const t0 = session.log.clock.now();
    session.log.record('harness', 'recovery', { device, outcome: 'power cycle', off_ms: spec.minOffMs });
    const from = session.log.nextIndex;
    await session.power(device).cycle();
    try {
      await session.log.waitFor(readyExpectation(device, session.rig.devices[device]?.ready), { within: spec.bootMs + 10_000, from });
      session.log.record('harness', 'recovery', { device, outcome: 'ready again', ms: +(Number(session.log.clock.now() - t0) / 1e6).toFixed(1) });
    } catch {
      session.log.record('harness', 'recovery', { device, outcome: `not ready within ${spec.bootMs + 10_000} ms after the power cycle` });
    }
  }
}
