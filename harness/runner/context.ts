import type { AsyncLocalStorage } from 'node:async_hooks';
import type { PropertyInfo, TestRecord } from './recorder.ts';
import type { RigSession } from './session.ts';

let current: RigSession | undefined;

/**
 * The rig session of the running `hil run`. Scenario files call this inside their hooks and
 * tests; it is set by the runner before mocha loads them (one session per run, no other
 * globals).
 */
export function session(): RigSession {
  if (!current) throw new Error('no rig session: scenarios run under `hil run` (or `npm start`), not directly under mocha');
  return current;
}

/** The session if one is running (library code usable outside `hil run` too). */
export function currentSession(): RigSession | undefined {
  return current;
}

/** For the runner only. */
export function setSession(s: RigSession | undefined): void {
  current = s;
}

/** What `hil run` was asked for that scenarios read: property run counts, budget, base seed. */
export interface RunSettings {
  /** Runs per property; undefined: each property's default. */
  runs?: number;
  /** Wall-clock budget per property, ms. */
  budgetMs?: number;
  /** Base seed (properties derive theirs from it); undefined: random, and reported. */
  seed?: number;
}

let settings: RunSettings = {};

export function runSettings(): RunSettings {
  return settings;
}

/** For the runner only. */
export function setRunSettings(s: RunSettings): void {
  settings = s;
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
   * A property is running: a death line is left to its predicate (through the invariants) so
   * fast-check can shrink the failure, instead of ending the test at once.
   */
  inProperty?: boolean;
}

let scopes: AsyncLocalStorage<TestScope> | undefined;

/** The running test's scope (property helpers attach their seed and path to it). */
export function currentTestScope(): TestScope | undefined {
  return scopes?.getStore();
}

/** For the runner only. */
export function setTestScopeStorage(als: AsyncLocalStorage<TestScope> | undefined): void {
  scopes = als;
}
