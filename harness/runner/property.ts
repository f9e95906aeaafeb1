/**
 * Property-based testing on a rig: burst arbitraries that only generate what the relays can
 * really do, and a runner around fast-check that knows bench time is expensive — a wall-clock
 * budget for the whole property (shrinking included), progress while it runs, and the seed, path
 * and counterexample written where `hil replay` finds them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import type { BurstStep } from '../core/buttons.ts';
import { earliestPressMs } from '../core/relay-limits.ts';
import type { MechanicalLimits } from '../rig/types.ts';
import { ConfigError } from '../core/errors.ts';
import { activeRun, currentSession, currentTestScope, runSettings, type PropertyLive } from './context.ts';
import { GuidedArbitrary, type ShrinkGuide } from './guided-shrink.ts';
// What one run of a property can show: scenarios take it from here, beside runProperty.
export { runViolations } from '../core/invariants/report.ts';
import { ResetCosts, resetStrategy, resetToKnownState } from './reset.ts';

/** What the burst arbitraries need to know about a rig. */
export interface BurstSpace {
  buttons: readonly string[];
  limits: MechanicalLimits;
}

interface RawPress {
  button: string;
  holdMs: number;
  /** Delay from the previous press's start (before the limits are applied). */
  delayMs: number;
}

/**
 * Turn raw presses into a schedule every limit allows: each press starts at the later of its
 * wished time, its channel's release + minGapMs, and the time the rate window has room. A pure
 * function of the raw values, so fast-check's shrinking (fewer presses, shorter holds, smaller
 * delays) still yields performable bursts.
 */
export function scheduleWithinLimits(raw: readonly RawPress[], limits: MechanicalLimits): BurstStep[] {
  const steps: BurstStep[] = [];
  const releasedAt = new Map<string, number>();
  const starts: number[] = [];
  let t = 0;
  for (const r of raw) {
    // The rule's earliest start (core/relay-limits.ts), on a plan's 1 µs grid.
    let at = earliestPressMs(limits, { releasedAtMs: releasedAt.get(r.button), startsMs: starts }, Math.max(t + r.delayMs, 0), 0.001);
    at = Math.ceil(at * 1000) / 1000;
    const holdMs = Math.max(r.holdMs, limits.minHoldMs);
    steps.push({ button: r.button, atMs: at, holdMs });
    releasedAt.set(r.button, at + holdMs);
    starts.push(at);
    t = at;
  }
  return steps;
}

/**
 * The densest burst the relays can make: every button in turn, as fast as the rig allows (the
 * rate limit, or each channel coming round again after hold + gap when that is slower), each held
 * for the minimum. Start times come from the rule itself on a plan's 1 µs grid
 * ({@link scheduleWithinLimits}), so the plan check accepts the burst on any rig: rounding each
 * press's exact time up to the µs on its own gives starts that land exactly 1 s, or 1 µs less,
 * after the press `maxPressesPerSec` before them whenever 1000/maxPressesPerSec is not a whole
 * number of µs (15/s), and the check then refuses the burst.
 */
export function densestBurst(space: BurstSpace, count: number): BurstStep[] {
  const { minHoldMs, minGapMs, maxPressesPerSec } = space.limits;
  const { buttons } = space;
  const period = Math.max(1000 / maxPressesPerSec, (minHoldMs + minGapMs) / buttons.length);
  const raw = Array.from({ length: count }, (_, k): RawPress => ({ button: buttons[k % buttons.length]!, holdMs: minHoldMs, delayMs: k === 0 ? 0 : period }));
  return scheduleWithinLimits(raw, space.limits);
}

/** Options for {@link burstArbitrary}. */
export interface BurstShape {
  /** Most presses in one burst. Default 30. */
  maxPresses?: number;
  /** Longest hold generated, ms. Default 400. */
  maxHoldMs?: number;
  /**
   * The device queue the bursts feed. Dense runs then come in two sizes: short ones, and ones of
   * one to three queue-fulls, long enough to fill it at the relays' maximum rate (a queue is only
   * exercised at its bound if something fills it).
   */
  queueCapacity?: number;
  /**
   * Presses that put the device in the state most of its behaviour needs (the panel: REACTOR_START;
   * every other button says "Reactor not started!" without it). Half the bursts begin with them;
   * the press after each waits a hold and a gap, time for the device to take it first. A bug that
   * needs a sequence from that state is then met about 1.6× as often: counted offline on 4,000
   * bursts of the sim rig's shape, by the order of their presses (refusals not modelled),
   * EMERGENCY while a pump is STOPPING went from 5.1 % to 8.3 % of bursts, while one is STARTING
   * from 14.9 % to 21.1 %. Shrinking drops the lead when it is not needed. Default: none.
   */
  lead?: readonly string[];
}

/**
 * Bursts a person or a relay could produce, within the rig's limits: mixed sequences (any button,
 * hold, gap), dense runs at the maximum rate, several channels at once, and long holds.
 */
export function burstArbitrary(space: BurstSpace, shape: BurstShape = {}): fc.Arbitrary<BurstStep[]> {
  const { minHoldMs, minGapMs, maxPressesPerSec } = space.limits;
  const maxPresses = shape.maxPresses ?? 30;
  const maxHold = Math.max(minHoldMs, shape.maxHoldMs ?? 400);
  const button = fc.constantFrom(...space.buttons);
  const hold = fc.integer({ min: minHoldMs, max: maxHold });
  const shortHold = fc.integer({ min: minHoldMs, max: minHoldMs + 20 });
  const ratePeriod = 1000 / maxPressesPerSec;
  const mixed = fc.array(fc.record({ button, holdMs: hold, delayMs: fc.integer({ min: 0, max: 200 }) }), { minLength: 1, maxLength: maxPresses, size: 'medium' });
  const densePress = fc.record({ button, holdMs: shortHold, delayMs: fc.constant(ratePeriod) });
  const cap = shape.queueCapacity;
  // A long dense run goes round the channels in some order, each coming back as soon as its
  // relay allows: the maximum rate the board can really press at.
  const round = fc.shuffledSubarray([...space.buttons], { minLength: space.buttons.length });
  // Two long dense runs in three are two to three queue-fulls — what it takes to fill the queue
  // while the processor drains it (the densest scenario fills it with two) — so a bug that needs a
  // full queue is met within a few runs; the rest are shorter. The count is a monotone map of one
  // uniform integer that reaches every count, so a failure shrinks to exactly the presses it needs.
  const fillCount = (queue: number) => fc.noBias(fc.integer({ min: 1, max: 6 * queue })).map((u) => (u < 2 * queue ? u : 2 * queue + Math.floor((u - 2 * queue) / 4)));
  const longDense = (queue: number) =>
    fc.record({ order: round, count: fillCount(queue) }).map(({ order, count }): RawPress[] => Array.from({ length: count }, (_, k) => ({ button: order[k % order.length]!, holdMs: minHoldMs, delayMs: ratePeriod })));
  const dense = fc.array(densePress, { minLength: 1, maxLength: cap ? 20 : maxPresses });
  const together = fc
    .uniqueArray(button, { minLength: 1, maxLength: Math.min(space.buttons.length, 8) })
    .chain((bs) => fc.tuple(...bs.map((b) => fc.record({ button: fc.constant(b), holdMs: hold, delayMs: fc.constant(0) }))));
  const longHolds = fc.array(fc.record({ button, holdMs: fc.integer({ min: Math.min(maxHold, 4 * minHoldMs), max: maxHold }), delayMs: fc.integer({ min: 0, max: 50 }) }), { minLength: 1, maxLength: 6 });
  const shapes: Array<fc.WeightedArbitrary<RawPress[]>> = [
    { arbitrary: mixed, weight: 3 },
    { arbitrary: dense, weight: 2 },
    { arbitrary: together, weight: 1 },
    { arbitrary: longHolds, weight: 1 },
  ];
  if (cap) shapes.push({ arbitrary: longDense(cap), weight: 6 });
  const body = fc.oneof(...shapes);
  // Each lead press released and past the gap before the next press starts.
  const settle = minHoldMs + minGapMs;
  const lead = (shape.lead ?? []).map((button, k): RawPress => ({ button, holdMs: minHoldMs, delayMs: k === 0 ? 0 : settle }));
  const raws: fc.Arbitrary<RawPress[]> =
    lead.length === 0
      ? body
      : fc.tuple(fc.boolean(), body).map(([led, raw]): RawPress[] => (led ? [...lead, ...raw.map((r, k) => (k === 0 ? { ...r, delayMs: Math.max(r.delayMs, settle) } : r))] : raw));
  return raws.map((raw: RawPress[]) => scheduleWithinLimits(raw, space.limits));
}

/** A burst as a short line for reports and counterexamples. */
export function describeBurst(steps: readonly BurstStep[]): string {
  return steps.map((s) => `${s.button}@${s.atMs}+${s.holdMs}`).join(' ');
}

/** Options for {@link runProperty}. */
export interface PropertyOptions<T = unknown> {
  /** Runs when `hil run --runs` does not say. */
  defaultRuns: number;
  /** Wall-clock budget when `--budget` does not say, ms (generation, runs and shrinking). */
  defaultBudgetMs: number;
  /**
   * Devices brought to a known state by the rig's reset strategy (a power cycle by default) before
   * every run — shrinking and `hil replay` included — so state left by one run (a pump left
   * running, a deadlock) cannot be blamed on the next, and a counterexample reproduces from that
   * state. What the resets cost is noted. Default: none (each run starts where the last left off).
   */
  reset?: readonly string[];
  /**
   * While shrinking: whether a value that already passed on the bench covers `candidate`, so that
   * running the candidate cannot fail and bench time is spent elsewhere. For bursts:
   * {@link isPrefixBurst} (a burst's first presses, from the same known state, are what that run
   * already pressed, at the same times). Only shrinking consults it: a skipped candidate may hide
   * a smaller counterexample, never make one up (what is reported always failed on the bench).
   * Default: none (every candidate runs).
   */
  covers?: (passed: T, candidate: T) => boolean;
  /**
   * While shrinking: candidates to run first, from how the value failed (for bursts:
   * {@link burstGuide}, with the predicate throwing a {@link BurstFailure} that names the press).
   * Default: fast-check's own shrinking only.
   */
  guide?: ShrinkGuide<T>;
  /**
   * After shrinking: how many times the counterexample runs again, from the known state, to see it
   * fail again. A racy bug (a deadlock that needs two threads to meet) fails some runs of the same
   * presses and not others, and shrinking keeps the first candidate that failed once: reported
   * unconfirmed, it can be one that hardly ever fails, which `hil replay` then cannot reproduce.
   * When it passes every rerun, the larger values that failed before it (up to three) are tried
   * the same way, and the smallest that fails again is reported; the note says which, and how
   * often it failed. The budget covers it: shrinking then stops at 70 % of the budget, and reruns
   * after the first at 90 %. Default: 3 with `reset` (values that are plain data), else 0.
   */
  confirmRuns?: number;
}

/** How many of the earlier, larger failing values a confirmation tries when the smallest one does not fail again. */
const CONFIRM_WALK_BACK = 3;
/**
 * Shares of a property's budget: shrinking runs candidates until SHRINK_SHARE of it has passed
 * when a confirmation follows, and reruns after the first start until CONFIRM_SHARE. What is left
 * is for the run in flight and the last rerun, so the property ends within its budget (a scenario
 * whose test timeout is the budget, run with `--budget` equal to it, timed out in the middle of a
 * confirmation).
 */
const SHRINK_SHARE = 0.7;
const CONFIRM_SHARE = 0.9;
/**
 * A shrink candidate of at most this many steps that fails runs once more before shrinking goes on
 * from it (with a confirmation to come): a racy bug fails a few presses now and then, and followed
 * on one failure, shrinking ended at a value that then passed every rerun (the gpiozero panel's
 * emergency-priority: 2 presses, and the 152-press original was reported instead). Few steps run
 * in about a second, so a bug that fails every time pays about that for the check.
 */
const RECHECK_MAX_STEPS = 3;

/**
 * Whether `candidate` is the first presses of `passed`, the same buttons at the same times and
 * holds ({@link scheduleWithinLimits} places each press from the ones before it only, so a shrunk
 * count gives exactly such a prefix).
 */
export function isPrefixBurst(passed: readonly BurstStep[], candidate: readonly BurstStep[]): boolean {
  if (candidate.length > passed.length) return false;
  for (let k = 0; k < candidate.length; k++) {
    const a = passed[k]!;
    const b = candidate[k]!;
    if (a.button !== b.button || a.atMs !== b.atMs || a.holdMs !== b.holdMs) return false;
  }
  return true;
}

/** What a property run found. */
export interface PropertyResult {
  failed: boolean;
  /** Budget ran out (runs were cut short); with `failed`, shrinking was cut short too. */
  interrupted: boolean;
  numRuns: number;
  numShrinks: number;
  seed: number;
  path?: string;
  counterexample?: string;
  error?: string;
  replayFile?: string;
}

/** A replay file (`replay/<test>.json` in the run folder): what `hil replay` needs. */
export interface ReplayRecord {
  test: string;
  spec: string;
  seed: number;
  path: string;
  counterexample: string;
  error: string;
  /**
   * Model-based properties: fast-check's `replayPath` of the failing command list (which
   * commands actually ran at each shrink). With seed and path it makes the replay exact.
   */
  commandsReplayPath?: string;
  /**
   * The counterexample itself, when it is plain data (JSON gives it back unchanged): `hil replay`
   * runs this value. Seed and path alone do not rebuild a value a {@link ShrinkGuide} made, as
   * its candidates depend on how the bench answered.
   */
  value?: unknown;
  /**
   * How shrinking ended: `complete` when fast-check ran out of candidates (the counterexample is
   * as small as this shrinking gets), `budget` when the property's budget stopped it (the best
   * counterexample so far). Older replay files have none.
   */
  shrinking?: 'complete' | 'budget';
  /**
   * Whether the counterexample failed again when it was run again after shrinking (see
   * {@link PropertyOptions.confirmRuns}): false for an intermittent failure none of whose values
   * failed a second time. Absent when no confirmation ran.
   */
  confirmed?: boolean;
}

export type { PropertyLive, ReplayRequest } from './context.ts';

/**
 * Constraints for `fc.commands` in a model-based property: under `hil replay` they carry the
 * recorded replay path, so exactly the failing command list runs again.
 *
 * ```ts
 * fc.commands(cmds, { maxCommands: 15, ...commandsReplay() })
 * ```
 */
export function commandsReplay(): { replayPath?: string } {
  const replay = activeRun()?.replay;
  return replay?.commandsReplayPath !== undefined ? { replayPath: replay.commandsReplayPath } : {};
}

/** The `replayPath` fast-check appends to a failing command list's text (a `replayPath="…"` comment). */
export function commandsReplayPathOf(counterexample: string): string | undefined {
  const m = /\/\*replayPath=("(?:[^"\\]|\\.)*")\*\//.exec(counterexample);
  if (!m) return undefined;
  try {
    return JSON.parse(m[1]!) as string;
  } catch {
    return undefined;
  }
}

/** Progress on stderr: one rewritten line on a terminal, a plain line every few runs elsewhere. */
export class Progress {
  private readonly tty = process.stderr.isTTY === true && process.env.CI !== 'true';
  private last = 0;
  /** The counters when the property started: the line counts the property's own presses. */
  private readonly base: PropertyLive | undefined;
  constructor(
    private readonly name: string,
    private readonly state?: () => PropertyLive | undefined,
  ) {
    this.base = state?.();
  }
  /** `120 presses, 0 requests, queue pi 3 esp 0`, counted from the property's start. */
  live(): string | undefined {
    const now = this.state?.();
    if (!now || !this.base) return undefined;
    return `${now.presses - this.base.presses} presses, ${now.requests - this.base.requests} requests, queue ${now.queues}`;
  }
  update(runs: number, planned: number, shrinks: number, verdict: string): void {
    const now = Date.now();
    const live = this.live();
    const line = `  ${this.name}: run ${runs}/${planned}${shrinks ? `, ${shrinks} shrinks` : ''}, ${verdict}${live ? `, ${live}` : ''}`;
    if (this.tty) {
      if (now - this.last < 100) return;
      process.stderr.write(`\r\x1b[2K${line}`);
    } else {
      if (now - this.last < 5000) return;
      process.stderr.write(`${line}\n`);
    }
    this.last = now;
  }
  done(): void {
    if (this.tty) process.stderr.write('\r\x1b[2K');
  }
}

/**
 * Check a property on the rig. The predicate throws (or returns false) on a violation. Uses
 * `hil run --runs/--budget/--seed` when given; records seed, path and counterexample on the
 * test (summary.csv) and in a replay file; throws with the shrunk counterexample when it fails.
 */
export async function runProperty<T>(name: string, arb: fc.Arbitrary<T>, predicate: (value: T) => Promise<boolean | void>, options: PropertyOptions<T>): Promise<PropertyResult> {
  const settings = runSettings();
  const replayRequest = activeRun()?.replay;
  const numRuns = replayRequest ? 1 : (settings.runs ?? options.defaultRuns);
  const budgetMs = settings.budgetMs ?? options.defaultBudgetMs;
  const seed = replayRequest?.seed ?? settings.seed ?? (Math.random() * 2 ** 31) | 0;
  const progress = new Progress(name, () => activeRun()?.propertyLive());
  let runs = 0;
  let shrinks = 0;
  let failures = 0;
  /** When the first failing run ended, ms after the property started (bench time to a counterexample). */
  let firstFailMs: number | undefined;
  const resets = new ResetCosts();
  const resetSession = options.reset?.length ? currentSession() : undefined;
  if (options.reset?.length) {
    if (!resetSession) throw new ConfigError(`${name}: a known state before every run needs a rig session (run it under \`hil run\`)`);
    for (const d of options.reset) resetStrategy(resetSession, d); // before any run: the rig's problem, in words
  }
  // Shrinking works on the generated values, and some of its candidates come out as the same burst
  // once fitted to the rig's limits (a gap shrunk below the relay's minimum is the minimum again, a
  // count shrinks from its minimum again each round): with `covers` (values that are plain data), a
  // candidate already run while shrinking is answered from its first run, not run on the bench
  // again (each costs a reset and the burst itself). Not for fc.commands: a command list records
  // which of its commands ran, and that record is its replay path.
  const tried = new Map<string, { ok: boolean | void } | { error: unknown }>();
  let repeats = 0;
  // Values that passed on the bench, for `covers` (the runs before the failure, and shrink candidates).
  const passed: T[] = [];
  let covered = 0;
  // How each failing value failed, for the guide (by identity: fast-check shrinks the very value
  // it ran).
  const failureOf = new WeakMap<object, unknown>();
  // Every value that failed on the bench, in the order it failed (the first failure, then each
  // smaller one shrinking went on from), for the confirmation after shrinking.
  const failedValues: T[] = [];
  const failedWith = (v: T, e: unknown): void => void (typeof v === 'object' && v !== null && failureOf.set(v, e));
  const replayValue = replayRequest?.value;
  const source: fc.Arbitrary<T> =
    replayValue !== undefined ? (fc.constant(replayValue) as fc.Arbitrary<T>) : options.guide ? new GuidedArbitrary(arb, options.guide, failureOf) : arb;
  // The run in progress: fast-check's time limit abandons it, but its burst goes on pressing.
  let inFlight: Promise<unknown> | undefined;
  // Runs the bench could not perform after the firmware had failed (see one()), and whether the
  // first failure was the bench's own.
  const unjudged: Array<{ from: bigint; to: bigint; why: string }> = [];
  let benchFailed = false;
  /** Small shrink candidates that failed once and passed their second run: not followed. */
  let notRepeated = 0;
  /** Small shrink candidates that failed on their second run too (fc.stringify): already confirmed. */
  const failedTwice = new Set<string>();
  const logNow = (): bigint => currentSession()?.log.clock.now() ?? process.hrtime.bigint();
  // The budget is the whole property's, confirmation included: with one to come, shrinking stops
  // at SHRINK_SHARE of it (the candidates after that are not run), and reruns end at CONFIRM_SHARE.
  const confirmRuns = replayRequest ? 0 : (options.confirmRuns ?? (resetSession ? 3 : 0));
  let shrinkCut = false;
  const prop = fc.asyncProperty(source, (v) => {
    const run = one(v);
    inFlight = run.catch(() => undefined);
    return run;
  });
  /**
   * One run, and a `property_run` record of it when the bench ran it (not answered from an
   * earlier run): the phase, the value's size, how it ended and how long it took, so a shrink
   * can be read back run by run from the observation log.
   */
  async function one(v: T): Promise<boolean | void> {
    const before = { runs, shrinks, notRepeated, unjudged: unjudged.length };
    const t0 = Date.now();
    const record = (outcome: string): void => {
      if (runs === before.runs && shrinks === before.shrinks) return; // answered without the bench
      const how = notRepeated > before.notRepeated ? 'failed once, passed again' : unjudged.length > before.unjudged ? 'not judged (bench)' : outcome;
      currentSession()?.log.record('harness', 'property_run', {
        property: name,
        phase: shrinks > before.shrinks ? 'shrink' : 'run',
        size: Array.isArray(v) ? v.length : describeValue(v).slice(0, 120),
        outcome: how,
        ms: Date.now() - t0,
      });
    };
    try {
      const r = await oneRun(v);
      record(r === false ? 'failed' : 'passed');
      return r;
    } catch (e) {
      record('failed');
      throw e;
    }
  }
  async function oneRun(v: T): Promise<boolean | void> {
    // The first failure was the bench's: the property ends on it (ERROR), with no bench time spent
    // shrinking what the bench did.
    if (benchFailed) return true;
    if (failures > 0 && confirmRuns > 0 && Date.now() - started > budgetMs * SHRINK_SHARE) {
      shrinkCut = true;
      return true;
    }
    const key = failures > 0 && options.covers ? fc.stringify(v) : undefined;
    const seen = key === undefined ? undefined : tried.get(key);
    if (seen) {
      repeats++;
      if ('error' in seen) {
        failedWith(v, seen.error);
        throw seen.error;
      }
      return seen.ok;
    }
    if (failures > 0 && options.covers && passed.some((p) => options.covers!(p, v))) {
      covered++;
      return true;
    }
    const remember = (r: { ok: boolean | void } | { error: unknown }): void => void (key !== undefined && tried.set(key, r));
    if (failures > 0) shrinks++;
    else runs++;
    progress.update(runs, numRuns, shrinks, failures > 0 ? 'FAILING, shrinking' : 'passing');
    const from = logNow();
    try {
      if (resetSession) for (const d of options.reset ?? []) resets.add(await resetToKnownState(resetSession, d));
      const ok = await predicate(v);
      if (ok === false && recheck(v) && !(await failsAgain(v))) {
        notRepeated++;
        remember({ ok: true });
        return true;
      }
      if (ok === false) {
        failed();
        failedValues.push(v);
      } else if (options.covers) passed.push(v);
      remember({ ok });
      return ok;
    } catch (e) {
      if (!firmwareFailed(e)) {
        if (failures > 0) {
          // Shrinking a failure of the firmware's, a candidate the bench could not perform (a press
          // performed short under host load, a rig fault) is neither a counterexample nor a pass:
          // not judged, and its run's violations stay out of the verdict (a candidate followed for
          // such a failure ended a confirmed queue-bound FAIL as ERROR on the sim, under load).
          unjudged.push({ from, to: logNow(), why: firstLine(e) });
          remember({ ok: true });
          return true;
        }
        benchFailed = true;
      }
      if (recheck(v) && !(await failsAgain(v))) {
        notRepeated++;
        remember({ ok: true });
        return true;
      }
      failed();
      failedValues.push(v);
      remember({ error: e });
      failedWith(v, e);
      throw e;
    }
  }
  /** Whether a shrink candidate that failed runs again before shrinking goes on from it (RECHECK_MAX_STEPS). */
  function recheck(v: T): boolean {
    return failures > 0 && confirmRuns > 0 && Array.isArray(v) && v.length <= RECHECK_MAX_STEPS;
  }
  /**
   * A small shrink candidate that failed: whether its second run, from the known state, fails too
   * (or cannot say: a run the bench could not perform is not judged, and the first failure stands).
   */
  async function failsAgain(v: T): Promise<boolean> {
    const from = logNow();
    try {
      if (resetSession) for (const d of options.reset ?? []) resets.add(await resetToKnownState(resetSession, d));
      if ((await predicate(v)) !== false) return false;
    } catch (e) {
      if (!firmwareFailed(e)) {
        unjudged.push({ from, to: logNow(), why: firstLine(e) });
        return true;
      }
    }
    failedTwice.add(fc.stringify(v));
    return true;
  }
  // Between runs too: a long burst shows its presses and queue depth as they go.
  const ticker = setInterval(() => progress.update(runs, numRuns, shrinks, failures > 0 ? 'FAILING, shrinking' : 'passing'), 250);
  ticker.unref();
  const scopeNow = currentTestScope();
  if (scopeNow) scopeNow.inProperty = true;
  const started = Date.now();
  function failed(): void {
    if (failures++ === 0) firstFailMs = Date.now() - started;
  }
  const details = await fc.check(prop, {
    seed,
    numRuns,
    ...(replayRequest ? { endOnFailure: true, ...(replayValue === undefined ? { path: replayRequest.path } : {}) } : {}),
    plugins: [fc.interruptAfterTimeLimit(budgetMs, { failOnInterrupt: false })],
  });
  // A run the budget cut off is still pressing buttons: nothing else may run until it has ended.
  await inFlight;
  const shrunkMs = Date.now() - started;
  let counterexample: T | undefined = details.failed && details.counterexample ? (details.counterexample as unknown as [T])[0] : undefined;
  let counterexampleError: unknown = details.errorInstance;
  let counterexamplePath = details.counterexamplePath ?? '';
  /** What the confirmation found, for the note and the failure's message. */
  let confirmation: { said: string; ms: number; index: number } | undefined;
  // A failure of the bench's is not the firmware's to confirm: the property ends on it as it is.
  if (counterexample !== undefined && confirmRuns > 0 && firmwareFailed(counterexampleError) && plainData(counterexample) !== undefined) {
    const c = await confirm(counterexample);
    if (c.confirmed) {
      counterexample = c.confirmed.value;
      counterexampleError = c.confirmed.error;
      if (c.confirmed.index > 0) counterexamplePath = '';
    }
    confirmation = { said: c.said, ms: Date.now() - started - shrunkMs, index: c.confirmed ? c.confirmed.index : -1 };
  }
  clearInterval(ticker);
  progress.done();

  /**
   * Run the shrunk counterexample again from the known state, up to `confirmRuns` times, until it
   * fails again; if it never does, the larger values that failed before it, newest first. A run
   * that fails on the bench's account (a rig fault, a refused press) confirms nothing.
   */
  async function confirm(shrunk: T): Promise<{ confirmed?: { value: T; rerun: number; error: unknown; index: number }; said: string }> {
    // A small candidate ran twice from the known state while shrinking, and failed both times.
    if (failedTwice.has(fc.stringify(shrunk))) return { confirmed: { value: shrunk, rerun: 0, error: counterexampleError, index: 0 }, said: `counterexample confirmed: it failed on two runs in a row while shrinking${resetSession ? ', each from the known state' : ''}` };
    // Past the first rerun, within CONFIRM_SHARE of the budget: the budget is the user's bench time.
    const until = started + budgetMs * CONFIRM_SHARE;
    const seen = new Set<string>();
    const candidates: T[] = [];
    for (const v of [shrunk, ...failedValues.slice().reverse()]) {
      const k = fc.stringify(v);
      if (seen.has(k)) continue;
      seen.add(k);
      candidates.push(v);
      if (candidates.length > CONFIRM_WALK_BACK) break;
    }
    const size = (v: T): string => (Array.isArray(v) ? `${v.length} step(s)` : describeValue(v).slice(0, 80));
    for (const [index, v] of candidates.entries()) {
      for (let rerun = 1; rerun <= confirmRuns; rerun++) {
        if ((index > 0 || rerun > 1) && Date.now() > until) {
          return { said: `counterexample NOT confirmed: it (${size(shrunk)}) failed once and passed ${index > 0 ? confirmRuns : rerun - 1} rerun(s) in the time the ${(budgetMs / 1000).toFixed(0)} s budget left for confirming; it may be intermittent` };
        }
        progress.update(runs, numRuns, shrinks, `confirming the counterexample${index > 0 ? ` (an earlier one, ${index} of ${candidates.length - 1})` : ''}, rerun ${rerun} of ${confirmRuns}`);
        try {
          if (resetSession) for (const d of options.reset ?? []) resets.add(await resetToKnownState(resetSession, d));
        } catch (e) {
          return { said: `the counterexample was not confirmed: the reset before a rerun failed (${e instanceof Error ? e.message : String(e)})` };
        }
        let error: unknown;
        const from = logNow();
        try {
          if ((await predicate(v)) === false) error = new Error(`${name}: the property returned false`);
        } catch (e) {
          error = e;
        }
        // Only a failure of the firmware confirms: not the bench's (a rig fault), nor a refused
        // press; such a rerun is not judged either way.
        if (error === undefined) continue;
        if (!firmwareFailed(error)) {
          unjudged.push({ from, to: logNow(), why: firstLine(error) });
          continue;
        }
        const confirmed = { value: v, rerun, error, index };
        if (index === 0) return { confirmed, said: `counterexample confirmed: it failed again on rerun ${rerun} of ${confirmRuns}, from the known state` };
        return {
          confirmed,
          said:
            `the smallest failing value (${size(shrunk)}) failed once and passed ${confirmRuns} rerun(s): the failure is intermittent. ` +
            `The counterexample given is an earlier, larger one (${size(v)}) that failed again, on rerun ${rerun} of ${confirmRuns}`,
        };
      }
    }
    return {
      said:
        `counterexample NOT confirmed: it (${size(shrunk)}) failed once and passed ${confirmRuns} rerun(s), and so did the ${candidates.length - 1} larger value(s) that failed before it: ` +
        `the failure is intermittent (\`hil replay --attempts N\` retries it)`,
    };
  }
  // For the report: how much of the property really ran (a PASS cut short by the budget is a
  // weaker PASS than one that ran every run).
  const ranFor = (shrunkMs / 1000).toFixed(1);
  const cutShort = details.interrupted || shrinkCut ? `, stopped by the ${(budgetMs / 1000).toFixed(0)} s budget${shrinkCut ? ` (shrinking ends at ${SHRINK_SHARE * 100} % of it, to leave time to confirm)` : ''}` : '';
  const skipped = repeats + covered > 0 ? ` (${repeats + covered} shrink candidate(s) not run again: ${repeats} repeated, ${covered} covered by a burst that passed)` : '';
  const firstFail = firstFailMs === undefined ? '' : `, first failure after ${(firstFailMs / 1000).toFixed(1)} s`;
  const benchSkipped = unjudged.length > 0 ? ` (${unjudged.length} run(s) the bench could not perform, not judged)` : '';
  const racy = notRepeated > 0 ? ` (${notRepeated} small candidate(s) failed once and passed a second run: not followed)` : '';
  currentSession()?.log.record('harness', 'note', {
    what: `${name}: ${details.numRuns} of ${numRuns} run(s)${details.numShrinks ? `, ${details.numShrinks} shrink(s)` : ''}${skipped}${benchSkipped}${racy} in ${ranFor} s${firstFail}, seed ${details.seed}${cutShort}`,
    // The same as figures, for benches that measure bench time to a counterexample.
    property_ms: shrunkMs,
    ...(firstFailMs !== undefined ? { first_fail_ms: firstFailMs } : {}),
    runs: details.numRuns,
    shrinks: details.numShrinks,
    candidates_run: shrinks,
    candidates_repeated: repeats,
    candidates_covered: covered,
    candidates_not_repeated: notRepeated,
  });
  // confirmed: -1 none, 0 the shrunk value, k the k-th larger one before it.
  if (confirmation) currentSession()?.log.record('harness', 'note', { what: `${name}: ${confirmation.said}`, confirm_ms: confirmation.ms, confirmed: confirmation.index });
  if (resets.count > 0) currentSession()?.log.record('harness', 'note', { what: `${name}: ${resets.describe(Date.now() - started)}` });
  if (scopeNow) scopeNow.inProperty = false;
  const scope = currentTestScope();
  const result: PropertyResult = {
    failed: details.failed,
    interrupted: details.interrupted,
    numRuns: details.numRuns,
    numShrinks: details.numShrinks,
    seed: details.seed,
  };
  if (details.failed && counterexample !== undefined) {
    result.path = counterexamplePath;
    result.counterexample = describeValue(counterexample);
    const err = counterexampleError;
    result.error = err instanceof Error ? err.message : String(err);
    const replayDir = activeRun()?.replayDir;
    if (replayDir && scope) {
      const file = path.join(replayDir, 'replay', `${slug(scope.title)}.json`);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const commandsReplayPath = commandsReplayPathOf(result.counterexample);
      const value = plainData(counterexample);
      const rec: ReplayRecord = {
        test: scope.title,
        spec: scope.specFile ?? '',
        seed: result.seed,
        path: result.path,
        counterexample: result.counterexample,
        error: result.error,
        ...(commandsReplayPath !== undefined ? { commandsReplayPath } : {}),
        ...(value !== undefined ? { value } : {}),
        shrinking: details.interrupted || shrinkCut ? 'budget' : 'complete',
        ...(confirmation ? { confirmed: confirmation.index >= 0 } : {}),
      };
      fs.writeFileSync(file, JSON.stringify(rec, null, 2) + '\n');
      result.replayFile = file;
    }
  }
  if (scope) {
    scope.property = {
      seed: result.seed,
      ...(result.path !== undefined ? { path: result.path } : {}),
      ...(result.replayFile ? { replayPath: path.relative(activeRun()?.replayDir ?? '.', result.replayFile) } : {}),
      ...(result.counterexample ? { counterexample: result.counterexample } : {}),
      // Only beside a failure of the firmware's: a property that ends on the bench's own failure,
      // or passes, is judged on every run.
      ...(unjudged.length > 0 && result.failed && firmwareFailed(counterexampleError) ? { unjudged } : {}),
    };
  }
  if (result.failed) {
    const cut = details.interrupted || shrinkCut ? ` (budget of ${budgetMs} ms ran out: the best counterexample so far)` : '';
    throw new PropertyFailure(
      counterexampleError,
      `${name}: failed after ${result.numRuns} run(s) and ${result.numShrinks} shrink(s)${cut}\n` +
        `  counterexample: ${result.counterexample}\n  seed ${result.seed}, path "${result.path}"` +
        (result.replayFile ? `\n  replay: hil replay ${path.dirname(path.dirname(result.replayFile))}` : '') +
        (confirmation ? `\n  ${confirmation.said}` : '') +
        `\n  ${result.error}`,
    );
  }
  return result;
}

/**
 * A property that failed. Counted as a failed expectation (verdict FAIL) unless what failed was
 * the bench or the harness itself (a RigFault, a refused press, a wrong state): then ERROR.
 */
export class PropertyFailure extends Error {
  override readonly name = 'PropertyFailure';
  readonly expectationFailed: boolean;
  readonly rigFault: boolean;
  constructor(cause: unknown, message: string) {
    super(message, { cause });
    this.rigFault = (cause as { rigFault?: unknown } | undefined)?.rigFault === true;
    this.expectationFailed = firmwareFailed(cause);
  }
}

/** An error's first line, for a note. */
function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 300);
}

/** Whether a property's error is the firmware's: not the bench's (a rig fault), a refused press (a limit), a wrong state or a configuration error. */
function firmwareFailed(cause: unknown): boolean {
  const c = cause as { rigFault?: unknown; limitExceeded?: unknown; name?: unknown } | undefined;
  return c?.rigFault !== true && c?.limitExceeded !== true && c?.name !== 'StateError' && c?.name !== 'ConfigError';
}

/**
 * `v` as JSON gives it back, or undefined when JSON would change it (class instances, functions,
 * undefined fields, -0). An object without a prototype (what `fc.record` makes) is plain data too:
 * JSON gives it back as an ordinary object with the same fields.
 */
function plainData(v: unknown): unknown {
  try {
    const back: unknown = JSON.parse(JSON.stringify(v) ?? 'null');
    return isDeepStrictEqual(back, withPrototypes(v)) ? back : undefined;
  } catch {
    return undefined;
  }
}

/** `v` with its prototype-less objects, at any depth, as ordinary objects (what JSON gives back for them). */
function withPrototypes(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withPrototypes);
  if (v === null || typeof v !== 'object') return v;
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== null && proto !== Object.prototype) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withPrototypes(x)]));
}

/** A counterexample as the report shows it: JSON when it is plain data (no `__proto__:null` from fc.record), else fast-check's own form. */
function describeValue(v: unknown): string {
  const plain = plainData(v);
  return plain !== undefined ? JSON.stringify(plain) : fc.stringify(v);
}

function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-|-$/g, '').slice(0, 120);
}
