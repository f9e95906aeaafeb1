/**
 * Error types the harness raises. Each carries flags code can test and a message a bench
 * engineer can act on: what was expected, what was seen, where the full record is.
 */

/** An expectation on the observation log was not met (timeout or a forbidden match). */
export class ExpectationError extends Error {
  override readonly name = 'ExpectationError';
  readonly expectationFailed = true;
  constructor(
    message: string,
    readonly detail: { expected: string; source?: string; withinMs?: number; seen: string[]; rawLog?: string },
  ) {
    super(message);
  }
}

/** A line matching a death pattern (panic, watchdog reset, Traceback…) appeared. */
export class DeathPatternError extends Error {
  override readonly name = 'DeathPatternError';
  readonly deathPattern = true;
  constructor(
    message: string,
    readonly source: string,
    readonly line: string,
    readonly pattern: string,
    /** Log index of the line, where it came from the observation log. */
    readonly at?: number,
  ) {
    super(message);
  }
}

/** The bench itself misbehaved (port vanished, board lost, serial lines lost): not a firmware bug. */
export class RigFault extends Error {
  override readonly name = 'RigFault';
  readonly rigFault = true;
  constructor(
    message: string,
    readonly part?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A part of the bench is gone for good (its reconnect window expired, the simulated bench exited):
 * nothing more can run on it, so every later test is ERROR with this cause.
 */
export class PartGone extends RigFault {
  readonly gone = true;
}

/** A rig definition or command-line value is wrong. Names the path, the expected and the found value. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly configError = true;
  constructor(
    message: string,
    readonly path?: string,
  ) {
    super(message);
  }
}

/** A call was made to a rig part in a state that does not allow it. */
export class StateError extends Error {
  override readonly name = 'StateError';
  constructor(
    readonly part: string,
    readonly state: string,
    readonly action: string,
  ) {
    super(`${part}: cannot ${action} while ${state}`);
  }
}

/**
 * The run was stopped (Ctrl-C, SIGTERM): every command from then on is refused with this. Named
 * `AbortError`, so a test that meets it is ABORTED, never FAIL or ERROR.
 */
export class RunStoppedError extends Error {
  override readonly name = 'AbortError';
  readonly runStopped = true;
  constructor(readonly what: string, readonly reason: string) {
    super(`${what} refused: the run is stopping (${reason}); nothing is energised any more`);
  }
}

/**
 * A port of the bench is held by another process (a second harness, a serial monitor): the bench
 * is in use. Not a fault of the bench nor of the firmware, and nothing was run: a usage error.
 */
export class BenchInUse extends RigFault {
  readonly benchInUse = true;
}
