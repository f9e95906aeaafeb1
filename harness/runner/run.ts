import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Mocha from 'mocha';
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
}

export interface RunResult {
  runId: string;
  dir: string;
  passed: number;
  failed: number;
  pending: number;
  /** Death lines that appeared while no test was running (they fail the run too). */
  deathsOutsideTests: string[];
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
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: stopping the run, releasing the bench…\n`);
    void session.close().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const mocha = new Mocha({ timeout: 60_000, reporter: options.reporter ?? 'spec', ...(options.grep ? { grep: options.grep } : {}) });
    for (const f of listScenarios()) mocha.addFile(path.join(SCENARIOS_DIR, f));
    mocha.rootHooks({
      beforeEach() {
        testRunning = true;
      },
      afterEach() {
        testRunning = false;
      },
    });
    await mocha.loadFilesAsync();
    const stats = await new Promise<Mocha.Stats>((resolve) => {
      const runner = mocha.run(() => resolve(runner.stats!));
    });
    const deathsOutsideTests = session.deathWatch.take().map((e) => e.message);
    return { runId: id, dir, passed: stats.passes, failed: stats.failures, pending: stats.pending, deathsOutsideTests };
  } finally {
    offDeath();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    setSession(undefined);
    await session.close();
  }
}
