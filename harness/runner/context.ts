import { AsyncLocalStorage } from 'node:async_hooks';
import type { BenchLock } from './bench-lock.ts';
import type { PropertyInfo, TestRecord } from './recorder.ts';
import { RunState } from './run-state.ts';
import type { RigSession } from './session.ts';

/** What `hil run` was asked for that scenarios read: property run counts, budget, base seed. */
export interface RunSettings {
  /** Runs per property; undefined: each property's default. */
  runs?: number;
  /** Wall-clock budget per property, ms. */
  budgetMs?: number;
  /** Base seed (properties derive theirs from it); undefined: random, and reported. */
  seed?: number;
}

/** The test a piece of async code belongs to, carried through every await by AsyncLocalStorage. */
export interface TestScope {
  /** Mocha's full title (suite titles and the test's own, joined by spaces): the test's name everywhere. */
  title: string;
  /** The suite titles alone, and the test's own title (separate columns in the CSV files). */
  suite: string;
  name: string;
  /** Spec file name (`10-buttons.spec.ts`) and its path. */
  scenario: string;
  specFile: string;
  ended: boolean;
  /** The recorder's record of this test (its invariant window), from its beforeEach on. */
  record?: TestRecord;
  /** Set by a property test: seed, path, replay file, counterexample. */
  property?: PropertyInfo;
  /** Fail the test now (a death line, a rig fault), while its body is still running. */
  abort?: (error: Error) => void;
  /**
   * Its body has settled (passed, failed or was aborted): nothing can fail it asynchronously any
   * more. Its invariant window may still be settling and judges what lands in it.
   */
  bodyDone?: boolean;
  /**
   * A property is running: a death line is left to its predicate (through the invariants) so
   * fast-check can shrink the failure, instead of ending the test at once.
   */
  inProperty?: boolean;
}

/** A replay request: seed and path, and for `fc.commands` its replay path. */
export interface ReplayRequest {
  seed: number;
  path: string;
  commandsReplayPath?: string;
  /** The counterexample itself, when the replay file has it as plain data: run instead of seed and path. */
  value?: unknown;
}

/** The bench's live counters, for a property's progress line: presses and requests since the bench opened, queue depths. */
export interface PropertyLive {
  presses: number;
  requests: number;
  /** `pi 3 esp 0`. */
  queues: string;
}

/** How a {@link RunContext} starts. */
export interface RunContextInit {
  /** The open rig session; set later with {@link RunContext.attach} when the bench opens after the context exists. */
  session?: RigSession;
  settings?: RunSettings;
  /** Where a failing property writes its replay file (the run folder). Default: none is written. */
  replayDir?: string;
  /** `hil replay`: run exactly this counterexample. */
  replay?: ReplayRequest;
}

/**
 * Everything one run is: its rig session, what it was asked for, the test each piece of async
 * code belongs to, where property replays go and which one to replay, and the run's phase. One
 * object per run, created by the runner and handed explicitly to what it starts; nothing of a run
 * lives in a module variable.
 */
export class RunContext {
  /** The run's phase, the running test, a stop, a bench gone for good. */
  readonly state = new RunState();
  /** The test each piece of async code belongs to (see `scopeTests` in run.ts). */
  readonly scopes = new AsyncLocalStorage<TestScope>();
  readonly replay: ReplayRequest | undefined;
  /** A real bench's lock, held from before any port is opened until the run has closed everything. */
  benchLock: BenchLock | undefined;
  private sessionNow: RigSession | undefined;
  private settingsNow: RunSettings;
  private replayDirNow: string | undefined;
  /** The bench has closed: no scope is current any more. */
  private detached = false;

  constructor(init: RunContextInit = {}) {
    this.sessionNow = init.session;
    this.settingsNow = init.settings ?? {};
    this.replayDirNow = init.replayDir;
    this.replay = init.replay;
  }

  /** Where a failing property writes its replay file (the run folder), while the bench is open. */
  get replayDir(): string | undefined {
    return this.replayDirNow;
  }

  /** The rig session once the bench is open (undefined before it opens and after it closed). */
  get session(): RigSession | undefined {
    return this.sessionNow;
  }

  get settings(): RunSettings {
    return this.settingsNow;
  }

  /** The bench is open: scenarios reach it, the settings and the run folder from here on. */
  attach(session: RigSession, with_: { settings: RunSettings; replayDir?: string }): void {
    this.sessionNow = session;
    this.settingsNow = with_.settings;
    this.replayDirNow = with_.replayDir;
  }

  /**
   * The bench is closing: no scenario code reaches it any more (a property still running after
   * its test sees no session and writes no replay file), and no test scope is current.
   */
  detach(): void {
    this.sessionNow = undefined;
    this.settingsNow = {};
    this.replayDirNow = undefined;
    this.detached = true;
  }

  /** The running test's scope, if the calling code runs inside one (none once the run has closed). */
  testScope(): TestScope | undefined {
    return this.detached ? undefined : this.scopes.getStore();
  }

  /** Presses, requests and queue depths now, for a property's progress line; undefined without a session. */
  propertyLive(): PropertyLive | undefined {
    const live = this.sessionNow?.live;
    if (!live) return undefined;
    return { presses: live.presses, requests: live.requests, queues: [...live.depth].map(([d, n]) => `${d} ${n}`).join(' ') };
  }
}

/**
 * The one slot: the context of the run going on in this process.
 *
 * It exists because mocha loads the scenario files itself, as modules: the runner cannot pass its
 * context to a spec's top level or to its hooks, so `session()`, `runSettings()` and
 * `runProperty()` find the run here. Everything inside the runner gets the context explicitly;
 * only that public API reads this slot. It is set once when a run starts and cleared when it ends,
 * and a second run in the same process while one is going is refused (two runs would share the
 * slot and drive each other's bench).
 */
let active: RunContext | undefined;

/** Thrown by {@link beginRun} while another run holds the slot. */
export class RunAlreadyActive extends Error {
  override readonly name = 'RunAlreadyActive';
}

/** A run starts: its context becomes the one scenarios reach. Refused while another run is going in this process. */
export function beginRun(ctx: RunContext): void {
  if (active && active !== ctx) throw new RunAlreadyActive('another hil run is already going in this process: one run at a time (its scenarios reach the bench through one shared context)');
  active = ctx;
}

/** The run has ended: its context is no longer reachable. Does nothing if `ctx` is not the active one. */
export function endRun(ctx: RunContext): void {
  if (active === ctx) active = undefined;
}

/** Run `fn` as the active run with `ctx` (tests of code that reads the active run), clearing it after. */
export async function withRun<T>(ctx: RunContext, fn: () => Promise<T> | T): Promise<T> {
  beginRun(ctx);
  try {
    return await fn();
  } finally {
    endRun(ctx);
  }
}

/** The context of the run going on, if any. */
export function activeRun(): RunContext | undefined {
  return active;
}

/**
 * The rig session of the running `hil run`. Scenario files call this inside their hooks and
 * tests; it is reachable once the runner has opened the bench, before mocha runs them.
 */
export function session(): RigSession {
  const s = active?.session;
  if (!s) throw new Error('no rig session: scenarios run under `hil run` (or `npm start`), not directly under mocha');
  return s;
}

/** The session if one is running (library code usable outside `hil run` too). */
export function currentSession(): RigSession | undefined {
  return active?.session;
}

/** What this run was asked for (property runs, budget, seed); empty outside a run. */
export function runSettings(): RunSettings {
  return active?.settings ?? {};
}

/** The running test's scope (property helpers attach their seed and path to it). */
export function currentTestScope(): TestScope | undefined {
  return active?.testScope();
}
