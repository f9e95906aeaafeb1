/**
 * Time for the harness. Every wait in the library is a deadline on an injected {@link Clock}:
 * drivers and the sim use {@link systemClock}; unit tests of logic use {@link VirtualClock} and
 * never sleep.
 */
export interface Clock {
  /** Monotonic time in nanoseconds (the host clock every observation is stamped with). */
  now(): bigint;
  /** Call `fn` once after `ms` milliseconds of this clock. */
  setTimer(fn: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
  /**
   * Call `fn` once the input already waiting for this process has been taken in. A timer of a
   * process that the machine did not run for a while fires before the lines that arrived
   * meanwhile are read; a deadline judged right then would miss them. Absent: at once.
   */
  afterIo?(fn: () => void): void;
}

/** `fn` after pending input is taken in (see {@link Clock.afterIo}). */
export function afterIo(clock: Clock, fn: () => void): void {
  if (clock.afterIo) clock.afterIo(fn);
  else fn();
}

/** Opaque handle returned by {@link Clock.setTimer}. */
export interface TimerHandle {
  readonly __timer: true;
}

/** The host's monotonic clock (`process.hrtime.bigint()`) and real timers. */
export const systemClock: Clock = {
  now: () => process.hrtime.bigint(),
  setTimer(fn, ms) {
    return setTimeout(fn, ms) as unknown as TimerHandle;
  },
  clearTimer(handle) {
    clearTimeout(handle as unknown as NodeJS.Timeout);
  },
  // Timers run before the loop polls for I/O; two turns of the loop's check phase come after
  // its poll phase has read every descriptor that was ready (and the reads' continuations ran).
  afterIo(fn) {
    setImmediate(() => setImmediate(fn));
  },
};

interface VirtualTimer extends TimerHandle {
  at: bigint;
  fn: () => void;
  order: number;
  cancelled: boolean;
}

/**
 * A clock that only moves when told to. `advance(ms)` fires due timers in time order and lets
 * promise continuations run between them, so code awaiting a deadline behaves as it would in
 * real time, without sleeping.
 */
export class VirtualClock implements Clock {
  private t: bigint;
  private timers: VirtualTimer[] = [];
  private order = 0;

  constructor(startNs: bigint = 1_000_000_000n) {
    this.t = startNs;
  }

  now(): bigint {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const timer: VirtualTimer = {
      __timer: true,
      at: this.t + BigInt(Math.max(0, Math.round(ms * 1e6))),
      fn,
      order: this.order++,
      cancelled: false,
    };
    this.timers.push(timer);
    return timer;
  }

  clearTimer(handle: TimerHandle): void {
    (handle as VirtualTimer).cancelled = true;
  }

  /** Number of timers still pending. */
  get pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Move time forward by `ms`, firing every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.t + BigInt(Math.round(ms * 1e6));
    for (;;) {
      await flushMicrotasks();
      this.timers = this.timers.filter((t) => !t.cancelled);
      let next: VirtualTimer | undefined;
      for (const timer of this.timers) {
        if (timer.at <= target && (!next || timer.at < next.at || (timer.at === next.at && timer.order < next.order))) next = timer;
      }
      if (!next) break;
      this.t = next.at > this.t ? next.at : this.t;
      next.cancelled = true;
      next.fn();
    }
    this.t = target;
    await flushMicrotasks();
  }
}

/** Let queued promise continuations run (a few rounds, since continuations chain). */
export async function flushMicrotasks(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

/** A point in time that a wait must finish by, on a given clock. */
export class Deadline {
  readonly at: bigint;
  constructor(
    private readonly clock: Clock,
    readonly ms: number,
  ) {
    this.at = clock.now() + BigInt(Math.round(ms * 1e6));
  }

  /** Milliseconds left (never negative). */
  get remainingMs(): number {
    const left = Number(this.at - this.clock.now()) / 1e6;
    return left > 0 ? left : 0;
  }

  get expired(): boolean {
    return this.clock.now() >= this.at;
  }
}

/** Resolve after `ms` of the given clock (virtual time in tests, real time on a bench). */
export function sleepOn(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(resolve, ms));
}

/** Nanoseconds to milliseconds, for messages. */
export function nsToMs(ns: bigint): number {
  return Number(ns) / 1e6;
}
