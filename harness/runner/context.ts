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
