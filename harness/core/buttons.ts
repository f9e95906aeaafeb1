import type { Clock } from './clock.ts';
import { ConfigError } from './errors.ts';
import type { DigitalOutput } from './interfaces.ts';
import type { ObservationLog } from './observation-log.ts';
import { earliestPressMs, holdAllowed, limitConflict, type MechanicalLimits, type PressHistory } from './relay-limits.ts';
import { HARNESS_KIND, SOURCE } from './topics.ts';

export type { MechanicalLimits };

/** A press the relays cannot physically perform. Names the limit, the request and the rig value. */
export class LimitError extends Error {
  override readonly name = 'LimitError';
  readonly limitExceeded = true;
  constructor(
    message: string,
    readonly limit: keyof MechanicalLimits | 'held' | 'notHeld' | 'minOffMs' | 'schedule',
  ) {
    super(message);
  }
}

export interface PressOptions {
  /**
   * How long the relay stays energised, ms. Given: press, hold, release (the promise resolves
   * after the release). Omitted: the button stays held until {@link ButtonPresser.release}.
   */
  holdMs?: number;
}

/** What a press did, for the caller and the report. */
export interface PressRecord {
  pressId: number;
  button: string;
  /** Log indices of the press and release observations (`releaseIndex` -1 while held). */
  pressIndex: number;
  releaseIndex: number;
}

/** One press of a burst: when it starts (from the burst's start) and how long it is held. */
export interface BurstStep {
  button: string;
  atMs: number;
  holdMs: number;
}

export interface BurstResult {
  presses: PressRecord[];
  /**
   * How much later than planned each press started (host scheduling jitter, plus any wait for a
   * limit the jitter would otherwise have broken). Recorded, never hidden.
   */
  lateMs: number[];
}

export interface ButtonPresserOptions {
  clock?: Clock;
  /**
   * Called before every actuation; throwing refuses it. The runner uses this to refuse commands
   * from a test that has already ended (a fast-check property keeps running after its timeout).
   */
  guard?: (what: string) => void;
}

interface Held {
  pressId: number;
  at: bigint;
  holdMs: number | undefined;
  pressIndex: number;
}

/**
 * Panel buttons pressed through relay outputs, within the rig's mechanical limits. A request the
 * relays cannot perform — a hold shorter than the contact needs, a second press before the
 * channel has released and settled, more presses per second than the board can drive — is
 * refused with a {@link LimitError} that says which limit, never stretched silently. Every
 * press and release is an observation (`buttons.press` / `buttons.release`) with a press id.
 */
export class ButtonPresser {
  private nextId = 1;
  private readonly held = new Map<string, Held>();
  private readonly lastRelease = new Map<string, bigint>();
  /** Start times of recent presses, for the rate limit. */
  private recent: bigint[] = [];
  private readonly clock: Clock;
  private readonly guard: (what: string) => void;
  /** Set by {@link halt}: every press from then on is refused with it. */
  private haltError: Error | undefined;
  /** Sleeps in progress, woken at once by {@link halt}. */
  private readonly sleepers = new Set<() => void>();

  constructor(
    private readonly outputs: ReadonlyMap<string, DigitalOutput>,
    readonly limits: MechanicalLimits,
    private readonly log: ObservationLog,
    options: ButtonPresserOptions = {},
  ) {
    this.clock = options.clock ?? log.clock;
    this.guard = options.guard ?? (() => undefined);
  }

  get buttons(): string[] {
    return [...this.outputs.keys()];
  }

  /** Buttons currently held. */
  get heldButtons(): string[] {
    return [...this.held.keys()];
  }

  private output(button: string): DigitalOutput {
    const out = this.outputs.get(button);
    if (!out) throw new ConfigError(`no button ${JSON.stringify(button)} on this rig; buttons: ${this.buttons.join(', ')}`);
    return out;
  }

  /**
   * The run is stopping: refuse every press from now on with `error`, and wake every wait (a hold,
   * a burst's schedule, a wait for a limit) so bursts in flight end now instead of carrying on.
   * Holds already made are released by their press (the relays themselves are released by the
   * caller). Permanent.
   */
  halt(error: Error): void {
    this.haltError ??= error;
    for (const wake of [...this.sleepers]) wake();
  }

  /** A wait on the clock that {@link halt} cuts short. */
  private sleep(ms: number): Promise<void> {
    if (this.haltError) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        this.clock.clearTimer(handle);
        this.sleepers.delete(wake);
        resolve();
      };
      const handle = this.clock.setTimer(wake, ms);
      this.sleepers.add(wake);
    });
  }

  private pruneRecent(now: bigint): void {
    const windowStart = now - 1_000_000_000n;
    while (this.recent.length > 0 && this.recent[0]! <= windowStart) this.recent.shift();
  }

  /** What the relay-limit rule reads for a press of `button` now: times in ms before `now`. */
  private history(button: string, now: bigint): PressHistory {
    const before = (t: bigint) => -Number(now - t) / 1e6;
    const last = this.lastRelease.get(button);
    return { releasedAtMs: last === undefined ? undefined : before(last), startsMs: this.recent.map(before) };
  }

  /** Check a press against the limits (the rule in relay-limits.ts) without performing it. */
  check(button: string, holdMs: number | undefined): void {
    this.output(button);
    const { minHoldMs, minGapMs, maxPressesPerSec } = this.limits;
    if (this.held.has(button)) throw new LimitError(`${button}: already held; release it before pressing again`, 'held');
    if (holdMs !== undefined && !holdAllowed(this.limits, holdMs)) {
      throw new LimitError(`${button}: a hold of ${holdMs} ms is shorter than the rig's minHoldMs ${minHoldMs} ms (the relay contact would not make reliably)`, 'minHoldMs');
    }
    const now = this.clock.now();
    this.pruneRecent(now);
    const conflict = limitConflict(this.limits, this.history(button, now), 0);
    if (conflict?.limit === 'minGapMs') {
      throw new LimitError(`${button}: pressed again ${conflict.sinceReleaseMs.toFixed(1)} ms after its release; the rig's minGapMs is ${minGapMs} ms (release time + debounce)`, 'minGapMs');
    }
    if (conflict?.limit === 'maxPressesPerSec') {
      throw new LimitError(`${button}: this would be press ${conflict.press} within 1 s; the rig's maxPressesPerSec is ${maxPressesPerSec}`, 'maxPressesPerSec');
    }
  }

  /**
   * Milliseconds until a press of `button` would pass the gap and rate limits (0: now). Does not
   * consider a button that is still held.
   */
  waitNeededMs(button: string): number {
    const now = this.clock.now();
    this.pruneRecent(now);
    // 1 ns: the finest step of the clock the presser runs on.
    return earliestPressMs(this.limits, this.history(button, now), 0, 1e-6);
  }

  /**
   * Energise the button's relay. With `holdMs`: hold it that long, release it, and resolve with
   * the finished record. Without: resolve once it is energised; {@link release} ends it.
   */
  async press(button: string, options: PressOptions = {}): Promise<PressRecord> {
    const holdMs = options.holdMs;
    if (this.haltError) throw this.haltError;
    this.check(button, holdMs);
    this.guard(`press ${button}`);
    const out = this.output(button);
    const pressId = this.nextId++;
    const entry: Held = { pressId, at: this.clock.now(), holdMs, pressIndex: -1 };
    this.held.set(button, entry);
    this.recent.push(entry.at);
    const t = this.log.clock.now();
    try {
      await out.set(true);
      // The press is dated when it was commanded (t, taken just before the write), not when
      // this line runs: a process preempted after its write would otherwise date the press after
      // the edge it caused (seen under two CPU hogs: 67 ms late, and the edge became a phantom).
      entry.pressIndex = this.log.append({ t, source: SOURCE.buttons, kind: HARNESS_KIND.press, fields: { press_id: pressId, button, ...(holdMs !== undefined ? { hold_ms: holdMs } : {}) } }).i;
    } catch (error) {
      await this.finishRelease(button, entry, out, 'press failed').catch(() => undefined);
      throw error;
    }
    if (holdMs === undefined) return { pressId, button, pressIndex: entry.pressIndex, releaseIndex: -1 };
    let releaseIndex = -1;
    try {
      await this.sleep(holdMs);
    } finally {
      // Released whatever happened while it was held.
      releaseIndex = await this.finishRelease(button, entry, out, undefined);
    }
    return { pressId, button, pressIndex: entry.pressIndex, releaseIndex };
  }

  /**
   * Wait until the channel's gap and the rate limit allow a press, then {@link tap}. For
   * sequential steps (a scenario, a model command) whose timing is not the point: waiting for
   * the relay is what a person would do; a burst with a planned schedule uses {@link burst}.
   */
  async tapWhenAllowed(button: string): Promise<PressRecord> {
    for (let wait = this.waitNeededMs(button); wait > 0 && !this.haltError; wait = this.waitNeededMs(button)) await this.sleep(Math.ceil(wait));
    return this.tap(button);
  }

  /** A press held for the rig's minimum hold: the shortest reliable click. */
  tap(button: string): Promise<PressRecord> {
    return this.press(button, { holdMs: this.limits.minHoldMs });
  }

  /**
   * Release a button held by {@link press} without `holdMs`. Refused while it has been held for
   * less than the rig's minHoldMs (the contact may not have made): the relay stays energised.
   */
  async release(button: string): Promise<PressRecord> {
    const out = this.output(button);
    const entry = this.held.get(button);
    if (!entry) throw new LimitError(`${button}: not held, nothing to release`, 'notHeld');
    if (entry.holdMs !== undefined) throw new LimitError(`${button}: pressed with holdMs ${entry.holdMs}; it releases by itself`, 'held');
    const heldMs = Number(this.clock.now() - entry.at) / 1e6;
    if (heldMs < this.limits.minHoldMs) {
      throw new LimitError(`${button}: released after ${heldMs.toFixed(1)} ms, shorter than the rig's minHoldMs ${this.limits.minHoldMs} ms (the relay contact may not have made); it is still held`, 'minHoldMs');
    }
    const releaseIndex = await this.finishRelease(button, entry, out, undefined);
    return { pressId: entry.pressId, button, pressIndex: entry.pressIndex, releaseIndex };
  }

  private async finishRelease(button: string, entry: Held, out: DigitalOutput, reason: string | undefined): Promise<number> {
    const t = this.log.clock.now(); // when the release was commanded (see press)
    try {
      await out.set(false);
    } finally {
      this.held.delete(button);
      this.lastRelease.set(button, this.clock.now());
    }
    return this.log.append({ t, source: SOURCE.buttons, kind: HARNESS_KIND.release, fields: { press_id: entry.pressId, button, ...(reason ? { reason } : {}) } }).i;
  }

  /**
   * Forget held buttons after the relays were released behind this presser's back (the board
   * parked them or reset). Their press records get a `release` with the reason.
   */
  forgetHeld(reason: string): void {
    const now = this.clock.now();
    for (const [button, entry] of this.held) {
      this.log.record(SOURCE.buttons, HARNESS_KIND.release, { press_id: entry.pressId, button, reason });
      this.lastRelease.set(button, now);
    }
    this.held.clear();
  }

  /**
   * Check a whole burst against the limits before anything moves: holds, gaps per channel, and
   * presses within any 1 s window. Throws a {@link LimitError} naming the step.
   */
  checkBurst(steps: readonly BurstStep[]): void {
    const { minHoldMs, minGapMs, maxPressesPerSec } = this.limits;
    const order = steps.map((s, i) => ({ s, i })).sort((a, b) => a.s.atMs - b.s.atMs || a.i - b.i);
    const released = new Map<string, { at: number; step: number }>();
    const starts: number[] = [];
    for (const { s, i } of order) {
      this.output(s.button);
      const where = `burst step ${i} (${s.button} at ${s.atMs} ms)`;
      if (!(s.atMs >= 0) || !Number.isFinite(s.atMs)) throw new LimitError(`${where}: start time must be a finite number ≥ 0`, 'schedule');
      if (!holdAllowed(this.limits, s.holdMs)) throw new LimitError(`${where}: a hold of ${s.holdMs} ms is shorter than the rig's minHoldMs ${minHoldMs} ms`, 'minHoldMs');
      const prev = released.get(s.button);
      // 1 µs of tolerance: plans are computed in floating point.
      const conflict = limitConflict(this.limits, { releasedAtMs: prev?.at, startsMs: starts }, s.atMs, 1e-3);
      if (conflict?.limit === 'minGapMs') {
        throw new LimitError(`${where}: starts ${conflict.sinceReleaseMs.toFixed(1)} ms after the release of step ${prev!.step}, closer than the rig's minGapMs ${minGapMs} ms`, 'minGapMs');
      }
      if (conflict?.limit === 'maxPressesPerSec') throw new LimitError(`${where}: press ${conflict.press} within 1 s; the rig's maxPressesPerSec is ${maxPressesPerSec}`, 'maxPressesPerSec');
      released.set(s.button, { at: s.atMs + s.holdMs, step: i });
      starts.push(s.atMs);
    }
  }

  /**
   * Perform a burst: presses start at their planned times (several channels may overlap). The
   * plan is checked first, whole. Host scheduling jitter can make a press late; if that lateness
   * would break a gap or rate limit with the next press, the next one waits for the limit rather
   * than being refused. Every lateness is returned and recorded (`buttons.burst`).
   */
  async burst(steps: readonly BurstStep[], options: { signal?: AbortSignal } = {}): Promise<BurstResult> {
    this.checkBurst(steps);
    const order = steps.map((s, i) => ({ s, i })).sort((a, b) => a.s.atMs - b.s.atMs || a.i - b.i);
    const t0 = this.clock.now();
    const presses: PressRecord[] = new Array<PressRecord>(steps.length);
    const lateMs: number[] = new Array<number>(steps.length).fill(0);
    const inFlight: Array<Promise<void>> = [];
    /** The press in flight on each channel. */
    const channel = new Map<string, Promise<void>>();
    const burstIndex = this.log.record('buttons', 'burst', { steps: steps.length, span_ms: Math.max(0, ...steps.map((s) => s.atMs + s.holdMs)) }).i;
    let failure: Error | undefined;
    const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(`burst stopped: ${JSON.stringify(e)}`));
    const stopped = (): Error | undefined => this.haltError ?? (options.signal?.aborted ? asError(options.signal.reason ?? new Error('burst aborted')) : undefined);
    for (const { s, i } of order) {
      if (failure !== undefined) break;
      if ((failure = stopped()) !== undefined) break;
      const dueIn = s.atMs - Number(this.clock.now() - t0) / 1e6;
      if (dueIn > 0) await this.sleep(dueIn);
      // A late release on this channel (jitter) is waited for, not turned into a refusal.
      await channel.get(s.button);
      if (failure !== undefined) break;
      // Timers may fire up to a millisecond early (whole-ms resolution): check again after each.
      for (let wait = this.waitNeededMs(s.button); wait > 0 && !this.haltError; wait = this.waitNeededMs(s.button)) await this.sleep(Math.ceil(wait));
      if ((failure ??= stopped()) !== undefined) break;
      lateMs[i] = Math.max(0, Number(this.clock.now() - t0) / 1e6 - s.atMs);
      const done = this.press(s.button, { holdMs: s.holdMs }).then(
        (r) => {
          presses[i] = r;
        },
        (error: unknown) => {
          failure ??= asError(error);
        },
      );
      channel.set(s.button, done);
      inFlight.push(done);
    }
    await Promise.all(inFlight);
    this.log.record('buttons', 'burst_end', { burst_index: burstIndex, done: presses.filter(Boolean).length, max_late_ms: +Math.max(0, ...lateMs).toFixed(2) });
    if (failure !== undefined) throw failure;
    return { presses, lateMs };
  }
}
