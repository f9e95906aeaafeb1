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
