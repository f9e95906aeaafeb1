import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Mocha from 'mocha';
import { ConfigError } from '../core/errors.ts';
import { loadRig } from '../rig/load.ts';
import { setSession } from './context.ts';
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
}

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
}

/** The test a piece of async code belongs to, carried through every await by AsyncLocalStorage. */
interface TestScope {
  title: string;
  ended: boolean;
}

/**
 * Run every test function inside its own {@link TestScope}, so commands issued by a test that
 * has already ended can be recognised and refused. A fast-check property keeps running after
 * its test timed out; without this, its presses would land in the next test.
 */
function scopeTests(suite: Mocha.Suite, als: AsyncLocalStorage<TestScope>, scopes: WeakMap<Mocha.Runnable, TestScope>): void {
  for (const t of suite.tests) {
    const fn = t.fn;
    if (!fn) continue;
    const scope: TestScope = { title: t.fullTitle(), ended: false };
    scopes.set(t, scope);
    t.fn =
      fn.length > 0
        ? function (this: Mocha.Context, done: Mocha.Done) {
            return als.run(scope, () => (fn as Mocha.Func).call(this, done));
          }
        : function (this: Mocha.Context) {
            return als.run(scope, () => (fn as Mocha.AsyncFunc).call(this));
          };
  }
  for (const s of suite.suites) scopeTests(s, als, scopes);
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
 * Run the scenarios on a rig: open it (starting the sim for the simulated rig), run mocha over
 * scenarios/*.spec.ts, close everything whatever happened. Config errors throw before anything is
 * opened.
 */
export async function runScenarios(options: RunOptions): Promise<RunResult> {
  const files = options.specs?.length ? options.specs.map((f) => path.resolve(f)) : listScenarios().map((f) => path.join(SCENARIOS_DIR, f));
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length > 0) throw new ConfigError(`no such spec file: ${missing.join(', ')}`);
  const { rig } = await loadRig(options.rig);
  const id = runId();
  const dir = path.resolve(options.out ?? 'reports', id);
  fs.mkdirSync(dir, { recursive: true });
  const session = await RigSession.open(rig, {
    outDir: dir,
    ...(options.fault ? { fault: options.fault } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.dutCmd ? { dutCmd: options.dutCmd } : {}),
  });
  setSession(session);
  // A death line fails the running test the moment it appears, even one that is not waiting on
  // anything: mocha fails the current test on an error thrown asynchronously during it.
  let testRunning = false;
  const offDeath = session.deathWatch.onDeath((err) => {
    if (!testRunning) return; // stays in deathWatch.tripped: reported and failing at the end
    session.deathWatch.take();
    setImmediate(() => {
      throw err;
    });
  });
  // A relay board that resets or vanishes fails the running test as a rig fault.
  const faultsOutsideTests: string[] = [];
  const offFault = session.onFault((fault) => {
    if (!testRunning) {
      faultsOutsideTests.push(fault.message);
      return;
    }
    setImmediate(() => {
      throw fault;
    });
  });
  // Commands from a test that has ended are refused (see scopeTests).
  const als = new AsyncLocalStorage<TestScope>();
  const scopes = new WeakMap<Mocha.Runnable, TestScope>();
  session.setGuard((what) => {
    const scope = als.getStore();
    if (scope?.ended) session.log.record('harness', 'refused', { what, test: scope.title });
    if (scope?.ended) throw new Error(`"${scope.title}" has already ended (failed or timed out); ${what} refused — the relays were parked when it ended`);
  });
  // First Ctrl-C (or SIGTERM): release, close everything in order, exit 130. A second Ctrl-C
  // exits at once — after a synchronous release written straight to the boards.
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) {
      process.stderr.write(`\n${sig} again: exiting now; relays released.\n`);
      session.emergencyReleaseSync(`${sig} again`);
      process.exit(130);
    }
    process.stderr.write(`\n${sig}: stopping the run, releasing the bench… (again to exit at once)\n`);
    session.releaseAll(sig);
    void session.close().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const mocha = new Mocha({ timeout: 60_000, reporter: options.reporter ?? 'spec', ...(options.grep ? { grep: options.grep } : {}) });
    for (const f of files) mocha.addFile(f);
    mocha.rootHooks({
      beforeEach() {
        testRunning = true;
      },
      afterEach(this: Mocha.Context) {
        testRunning = false;
        const t = this.currentTest;
        const scope = t ? scopes.get(t) : undefined;
        if (scope) scope.ended = true;
        // Park: whatever the test left held (it failed mid-press, timed out, forgot) is released.
        session.releaseAll(`after test: ${t?.title ?? '?'}`);
      },
    });
    await mocha.loadFilesAsync();
    scopeTests(mocha.suite, als, scopes);
    const stats = await new Promise<Mocha.Stats>((resolve) => {
      const runner = mocha.run(() => resolve(runner.stats!));
    });
    const deathsOutsideTests = session.deathWatch.take().map((e) => e.message);
    return { runId: id, dir, passed: stats.passes, failed: stats.failures, pending: stats.pending, deathsOutsideTests, faultsOutsideTests };
  } finally {
    offDeath();
    offFault();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    setSession(undefined);
    await session.close();
  }
}
