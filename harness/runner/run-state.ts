import type { RigFault } from '../core/errors.ts';
import type { TestScope } from './context.ts';

/**
 * Where a run is:
 * - `opening`: the run has begun: its folder, bench preparation, the bench opening, the devices
 *   coming up; no test runs yet;
 * - `running`: tests run;
 * - `stopping`: a SIGINT/SIGTERM arrived: every command is refused, the relays are released, the
 *   running test is recorded ABORTED and the run closes (a second signal exits at once);
 * - `finished`: mocha is done, the records are closed.
 */
export type RunPhase = 'opening' | 'running' | 'stopping' | 'finished';

/** The stop of a run: which signal, when (host ns, the observations' clock), how many arrived. */
export interface RunStop {
  signal: NodeJS.Signals;
  t: bigint;
  signals: number;
}

/**
 * One run's mutable state, in one place with named states, instead of loose booleans in the
 * runner's closure.
 */
export class RunState {
  private phaseNow: RunPhase = 'opening';
  private stopNow: RunStop | undefined;
  /** The test between its beforeEach and afterEach, if any. */
  running: TestScope | undefined;
  /** A test is between its beforeEach and afterEach (even one the runner has no scope for). */
  inTest = false;
  /** The running test has already been failed asynchronously once (a death line, a rig fault). */
  failedAsync = false;
  /**
   * A part of the bench that is gone for good (its reconnect window expired, the sim exited):
   * every later test is ERROR with this cause, and nothing runs against the bench.
   */
  benchLost: RigFault | undefined;

  get phase(): RunPhase {
    return this.phaseNow;
  }

  get stop(): RunStop | undefined {
    return this.stopNow;
  }

  /** A stop signal arrived: `first` for the first one, `again` for any later one. */
  signal(signal: NodeJS.Signals, t: bigint): 'first' | 'again' {
    if (this.stopNow) {
      this.stopNow.signals++;
      return 'again';
    }
    this.stopNow = { signal, t, signals: 1 };
    this.phaseNow = 'stopping';
    return 'first';
  }

  /** The bench is open and its devices were given their time to come up: tests may run. */
  start(): void {
    if (this.phaseNow === 'opening') this.phaseNow = 'running';
  }

  finish(): void {
    if (this.phaseNow === 'running') this.phaseNow = 'finished';
  }

  /** Enter a test (its beforeEach). */
  enter(scope: TestScope | undefined): void {
    this.inTest = true;
    this.failedAsync = false;
    this.running = scope;
  }

  /** Leave it (its afterEach). */
  leave(): void {
    this.inTest = false;
  }
}
