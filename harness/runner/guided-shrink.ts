/**
 * Shrinking that reads the bench. fast-check shrinks a failing burst blind: fewer presses, shorter
 * holds, each candidate a reset and a burst on the relays, and under the property's budget a
 * 200-press failure often stopped there at 26–248 presses. The run that failed already says where
 * it went wrong: the invariants name the press, or the first press that was never handled, or
 * when the first violation showed. A guide turns that into the candidates worth bench time first:
 * that press alone, with the one or two presses before it, and the presses up to it. fast-check's
 * own shrinking follows, so nothing it would have found is lost; a candidate the guide made is
 * taken apart by the guide (fast-check has no record of how it was generated).
 *
 * What is reported is still a value that failed on the bench; a guide can only choose which
 * candidates run first.
 */
import fc from 'fast-check';
import type { BurstStep } from '../core/buttons.ts';
import { runViolations, type WindowResult } from '../core/invariants/report.ts';
import { earliestPressMs, type MechanicalLimits } from '../core/relay-limits.ts';

/** What a property can say about its own failures to direct shrinking. */
export interface ShrinkGuide<T> {
  /** Candidates to run first for `failed`, from how it failed (the error its predicate threw). */
  fromFailure(failed: T, failure: unknown): T[];
  /**
   * Smaller candidates for a value this guide made (fast-check cannot shrink those itself), or for
   * one of fast-check's whose failure is known (after the candidates from the failure). Read
   * lazily: when a candidate fails, shrinking starts again from it and the rest is never asked
   * for, so code after a `yield` runs only if the candidate before it passed. `failure`: how the
   * value failed (the error its predicate threw), when it is known.
   */
  smaller(value: T, failure?: unknown): Iterable<T>;
}

/** Context of a value a guide made: fast-check's own shrinker does not know it. */
const GUIDED = Symbol('guided');

/** `arb`, with a guide's candidates first in every shrink of a value whose failure is in `failures`. */
export class GuidedArbitrary<T> extends fc.Arbitrary<T> {
  constructor(
    private readonly inner: fc.Arbitrary<T>,
    private readonly guide: ShrinkGuide<T>,
    private readonly failures: WeakMap<object, unknown>,
  ) {
    super();
  }

  generate(mrng: fc.Random, biasFactor: number | undefined): fc.Value<T> {
    return this.inner.generate(mrng, biasFactor);
  }

  canShrinkWithoutContext(value: unknown): value is T {
    return this.inner.canShrinkWithoutContext(value);
  }

  shrink(value: T, context: unknown): fc.Stream<fc.Value<T>> {
    const failure = typeof value === 'object' && value !== null && this.failures.has(value) ? this.failures.get(value) : undefined;
    const first = failure === undefined ? [] : this.guide.fromFailure(value, failure);
    // The guide takes apart the values it made, and any other value whose failure it knows (its
    // candidates are read lazily: they run only when those from the failure have all passed).
    const own = context === GUIDED || failure !== undefined ? this.guide.smaller(value, failure) : [];
    const guided = fc.Stream.of(...first).join(lazily(own)).map((v) => new fc.Value(v, GUIDED));
    return context === GUIDED ? guided : guided.join(this.inner.shrink(value, context));
  }
}

/** An iterable as the iterator fast-check's streams join, read no further than asked. */
function* lazily<T>(xs: Iterable<T>): IterableIterator<T> {
  yield* xs;
}

/** Longest candidate any failure is taken apart press by press; longer ones only after a stop (see {@link burstGuide}). */
const DELTA_DEBUG_MAX = 48;

/** What a burst's failure says beyond where it showed, for the guide. */
export interface BurstFailureFacts {
  /**
   * Whether the device's queue was full by the press the failure points at ({@link queueFullBy}):
   * a failure that may need a full queue is not taken apart press by press (every candidate with a
   * gap in it lets the queue drain, and cannot fail).
   */
  queueFull?: boolean;
  /**
   * Whether the first violation says the device stopped: a hang (`hung`), or a crash its death
   * line announced (`death-pattern`: a Traceback, a panic) before its heartbeats could go quiet.
   */
  hung?: boolean;
  /** Indices of the burst's presses the device refused (`q_drop`): they never reached its processor. */
  refused?: readonly number[];
  /**
   * Indices of the burst's presses up to the failing one in the order the device took them
   * (`q_get`, on its clock), the failing press last: the order its processor met them, which at
   * a few ms apart on different relays can differ from the burst's.
   */
  takenOrder?: readonly number[];
  /** The window had a violation of the bench's (see {@link BurstFailure.rigFault}). */
  bench?: boolean;
  /**
   * How long the device's processor took per event while events waited for it (ms, from its own
   * take times up to the failing press; see {@link processorPaceMs}): presses no closer than this
   * do not fill its queue.
   */
  paceMs?: number;
}

/** A burst that failed, and where: the index of the first press its failure points at. */
export class BurstFailure extends Error {
  override readonly name = 'BurstFailure';
  /**
   * The bench, not the firmware, may have caused it: the window had a violation of the bench's
   * (a press performed short). Such a run cannot support a verdict on the firmware (ERROR), nor
   * confirm or shrink one.
   */
  readonly rigFault: boolean;
  constructor(
    message: string,
    /** Index into the burst of the press the failure first showed at; undefined when nothing says. */
    readonly pressIndex: number | undefined,
    /** The invariant of the first violation. */
    readonly invariant: string | undefined,
    readonly facts: BurstFailureFacts = {},
  ) {
    super(message);
    this.rigFault = facts.bench === true;
  }

  /** The failure of a burst judged by `w` (its presses are the burst's, in order), with everything the guide reads. */
  static fromWindow(message: string, whole: WindowResult): BurstFailure {
    // A percentile limit's violation is the test's to judge over all its samples (runViolations).
    const w = { ...whole, violations: runViolations(whole) };
    const k = implicatedPress(w);
    const first = firstViolation(w);
    const refused = w.presses.flatMap((p, i) => (p.outcome === 'dropped' ? [i] : []));
    const bench = w.violations.some((v) => v.kind === 'rig');
    const paceMs = refused.length > 0 ? processorPaceMs(w, k) : undefined;
    // A death line comes first when a thread dies (the panel's rod typo, the sim's stuck
    // processor): the device took its events up to there in its own order, as before a hang.
    const hung = first?.kind === 'hung' || first?.invariant === 'death-pattern';
    const takenOrder = hung ? takenOrderOf(w, k) : undefined;
    return new BurstFailure(message, k, first?.invariant, {
      queueFull: queueFullBy(w, k),
      hung,
      refused,
      ...(bench ? { bench } : {}),
      ...(paceMs !== undefined ? { paceMs } : {}),
      ...(takenOrder !== undefined ? { takenOrder } : {}),
    });
  }
}

/**
 * The press of a burst (index into the window's presses, which are the burst's in order) its
 * window's verdict first points at: the earliest of a press a violation names, the first press
 * the device did not handle (pending, lost, duplicated, cut off), and the last press begun
 * before the earliest violation showed. The cause is at or before it. The bench's own violations
 * (a press it performed short) and the presses they name are left out: they say where the bench
 * went wrong, not the firmware.
 */
export function implicatedPress(w: WindowResult): number | undefined {
  if (w.presses.length === 0) return undefined;
  const firmware = w.violations.filter((v) => v.kind !== 'rig');
  const benchs = new Set(w.violations.filter((v) => v.kind === 'rig' && v.pressId !== undefined).map((v) => v.pressId));
  let k = Infinity;
  const index = new Map(w.presses.map((p, i) => [p.press_id, i]));
  for (const v of firmware) if (v.pressId !== undefined && index.has(v.pressId)) k = Math.min(k, index.get(v.pressId)!);
  const unhandled = w.presses.findIndex((p) => p.outcome !== 'processed' && p.outcome !== 'dropped' && !benchs.has(p.press_id));
  if (unhandled >= 0) k = Math.min(k, unhandled);
  const earliest = firmware.reduce<bigint | undefined>((t, v) => (t === undefined || v.t < t ? v.t : t), undefined);
  if (earliest !== undefined) {
    let before = -1;
    w.presses.forEach((p, i) => void (p.press_t <= earliest && (before = i)));
    if (before >= 0) k = Math.min(k, before);
  }
  return Number.isFinite(k) ? k : undefined;
}

/**
 * Whether the device's queue was at its capacity when one of the burst's presses up to `k` was
 * queued or refused: the failure at press k may need a full queue. Only up to k: a device that
 * stopped (a deadlock) fills its queue with the presses after it, and that is no part of the cause.
 * A device that prints no depth: no.
 */
export function queueFullBy(w: WindowResult, k: number | undefined): boolean {
  if (k === undefined) return false;
  const cap = new Map(w.stats.map((s) => [s.device, s.queue_capacity]));
  return w.presses.slice(0, k + 1).some((p) => {
    const c = cap.get(p.device);
    return c !== undefined && p.depth !== undefined && p.depth >= c;
  });
}

/**
 * The device's processor time per event while events waited for it, ms: the median interval
 * between two takes (`q_get`) of the presses up to `k` where the second event was already queued
 * when the first was taken (the processor went from one straight to the next), on the device's
 * own clock. Without queue times, the median of all intervals between takes (idle gaps make it
 * longer, which only spaces a candidate more). Undefined when fewer than 3 intervals say.
 */
export function processorPaceMs(w: WindowResult, k: number | undefined): number | undefined {
  if (k === undefined) return undefined;
  const taken = byTakeTime(w, k + 1).map(({ p }) => p);
  const gaps: number[] = [];
  const waited: number[] = [];
  for (let i = 1; i < taken.length; i++) {
    const [a, b] = [taken[i - 1]!, taken[i]!];
    if (a.device !== b.device) continue;
    const gap = (b.taken_us! - a.taken_us!) / 1000;
    gaps.push(gap);
    if (b.queued_us !== undefined && b.queued_us <= a.taken_us!) waited.push(gap);
  }
  const pick = waited.length >= 3 ? waited : taken.some((p) => p.queued_us !== undefined) ? [] : gaps;
  if (pick.length < 3) return undefined;
  pick.sort((x, y) => x - y);
  return pick[Math.floor(pick.length / 2)];
}

/** See {@link BurstFailureFacts.takenOrder}; undefined when the device printed no take times. */
export function takenOrderOf(w: WindowResult, k: number | undefined): number[] | undefined {
  if (k === undefined || k >= w.presses.length) return undefined;
  const taken = byTakeTime(w, k)
    .filter(({ p }) => p.device === w.presses[k]!.device)
    .map(({ i }) => i);
  return taken.length > 0 ? [...taken, k] : undefined;
}

/** The window's first `n` presses that have a take time, with their indices, in take order. */
function byTakeTime(w: WindowResult, n: number): Array<{ p: WindowResult['presses'][number]; i: number }> {
  return w.presses
    .slice(0, n)
    .map((p, i) => ({ p, i }))
    .filter(({ p }) => p.taken_us !== undefined)
    .sort((a, b) => a.p.taken_us! - b.p.taken_us!);
}

/** Gap between presses of a candidate in the device's own order: wide enough that the relays' timing cannot swap two. */
const ORDER_GAP_MS = 25;

/**
 * The presses `order` names, in that order, each at least `gapMs` after the one before and, for a
 * button pressed again, at least as long after its previous press as in `steps` (which the rig
 * performed), the first at 0.
 */
function inOrder(steps: readonly BurstStep[], order: readonly number[], gapMs: number): BurstStep[] {
  const out: BurstStep[] = [];
  const last = new Map<string, { at: number; orig: number }>();
  for (const i of order) {
    const s = steps[i]!;
    let at = out.length === 0 ? 0 : out[out.length - 1]!.atMs + gapMs;
    const prev = last.get(s.button);
    if (prev) at = Math.max(at, prev.at + Math.abs(s.atMs - prev.orig));
    at = Math.round(at * 1000) / 1000;
    out.push({ ...s, atMs: at });
    last.set(s.button, { at, orig: s.atMs });
  }
  return out;
}

/**
 * `steps` with every gap between consecutive presses at least `gapMs` (a gap only grows, and the
 * presses after it move later together, so every relay limit the burst kept is kept).
 */
function paced(steps: readonly BurstStep[], gapMs: number): BurstStep[] {
  let shift = 0;
  return steps.map((s, i) => {
    if (i > 0) shift += Math.max(0, gapMs - (s.atMs - steps[i - 1]!.atMs));
    return { ...s, atMs: Math.round((s.atMs + shift) * 1000) / 1000 };
  });
}

/** A window's earliest violation that is not the bench's. */
function firstViolation(w: WindowResult): WindowResult['violations'][number] | undefined {
  return w.violations.filter((v) => v.kind !== 'rig').sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0))[0];
}

/** The presses kept, at their own times relative to each other, the first at 0. */
function keep(steps: readonly BurstStep[], which: (i: number) => boolean): BurstStep[] {
  const kept = steps.filter((_, i) => which(i));
  const t0 = kept[0]?.atMs ?? 0;
  return kept.map((s) => ({ ...s, atMs: Math.round((s.atMs - t0) * 1000) / 1000 }));
}

/**
 * Longest candidate also tried with its presses drawn together ({@link tightened}): the size the
 * matrix's target asks for (3) and the step before it. A candidate of 5 presses at its own spacing
 * can pass where the same 4 of them drawn together fail, and shrinking then never reaches 3.
 */
const TIGHTEN_MAX = 4;

/**
 * `steps` with every gap closed to the rig's rate period (1000 / maxPressesPerSec, the spacing of
 * the densest burst it can make) where it was wider, each press no earlier than its channel's
 * release + minGapMs and the rate window allow: the same presses in the same order, reaching the
 * device as close together as the relays can press them.
 */
export function tightened(steps: readonly BurstStep[], limits: MechanicalLimits): BurstStep[] {
  const period = 1000 / limits.maxPressesPerSec;
  const releasedAt = new Map<string, number>();
  const starts: number[] = [];
  const out: BurstStep[] = [];
  steps.forEach((s, i) => {
    const wished = i === 0 ? 0 : out[i - 1]!.atMs + Math.min(s.atMs - steps[i - 1]!.atMs, period);
    const at = Math.ceil(earliestPressMs(limits, { releasedAtMs: releasedAt.get(s.button), startsMs: starts }, wished, 0.001) * 1000) / 1000;
    out.push({ ...s, atMs: at });
    releasedAt.set(s.button, at + s.holdMs);
    starts.push(at);
  });
  return out;
}

/**
 * The guide for bursts. For a burst that failed at press k (see {@link implicatedPress}):
 * - press k alone, then with the one and the two presses before it, each at its own spacing,
 *   started at once: a single-cause bug shrinks to its few presses in about three runs; tried the
 *   first time an invariant fails only, as a bug that needs a full queue gets nothing from them
 *   and would pay for them at every step, and not at all while the queue was full by press k
 *   (unless the device stopped: a hang fills its queue after the cause);
 * - the presses up to k, at their times: what came after the failure showed cannot be its cause.
 * A candidate the guide made shrinks by dropping leading presses (one, then galloping while that
 * still fails; after a stop, half first) and by delta debugging: halves, quarters… single presses
 * of those before its last (beyond 48 presses only when the device stopped with its queue not full
 * by the failing press).
 * Given the rig's `limits`, a candidate of up to 4 presses of a failure the device lived through
 * is also tried with its presses drawn together ({@link tightened}), after it passed as it was.
 *
 * Every candidate keeps the spacing its presses had in a burst the rig performed, and removing
 * presses only leaves more room under every relay limit, so each is performable as it is; one
 * drawn together is placed by the relay-limit rule itself.
 */
export function burstGuide(options: { limits?: MechanicalLimits } = {}): ShrinkGuide<BurstStep[]> {
  const windowsTried = new Set<string>();
  /**
   * `c`, then (with the rig's limits, for a candidate of up to {@link TIGHTEN_MAX} presses, of a
   * failure the device lived through) the same presses drawn together. A failure among events
   * that waited in the queue together (one lost behind a REACTOR_STOP that empties the queue,
   * EMERGENCY overtaking presses queued before it) needs them queued together. The presses
   * removed in front of them kept the processor busy while they arrived; without them, at their
   * own spacing, they can reach an idle processor one by one, and the candidate fails only now
   * and then (the gpiozero panel's stop-flushes-queue: 4 presses, where 3 drawn together fail).
   * Not for a device that stopped: a deadlock needs its states in order, and presses a relay's
   * operate time apart can swap.
   */
  const andTightened = function* (c: BurstStep[], failure: unknown): Generator<BurstStep[]> {
    yield c;
    if (!options.limits || c.length < 2 || c.length > TIGHTEN_MAX) return;
    if (!(failure instanceof BurstFailure) || failure.facts.hung === true) return;
    const t = tightened(c, options.limits);
    if (JSON.stringify(t) !== JSON.stringify(c)) yield t;
  };
  /** The last leading-drop candidate and how many presses it dropped: if it is the value shrunk next, it failed. */
  let lastDrop: { value: BurstStep[]; drop: number } | undefined;
  return {
    fromFailure(failed, failure) {
      if (!(failure instanceof BurstFailure) || failure.pressIndex === undefined) return [];
      const k = Math.min(failure.pressIndex, failed.length - 1);
      const out: BurstStep[][] = [];
      const key = failure.invariant ?? '';
      // Not while the failure may need the queue it filled (full by press k, and no stop that
      // filled it afterwards): a press or three from a reset cannot fill it again, and the bench
      // paid three runs for nothing on every queue-bound bug (the sim's bound-off-by-one, seed 1:
      // 2.7 s of its 39 s). They stay untried for a failure of that invariant that does not.
      const mayNeedFullQueue = failure.facts.queueFull === true && failure.facts.hung !== true;
      if (!windowsTried.has(key) && !mayNeedFullQueue) {
        windowsTried.add(key);
        for (const size of [1, 2, 3]) if (size <= k + 1 && size < failed.length) out.push(...andTightened(keep(failed, (i) => i > k - size && i <= k), failure));
      }
      // A device that stopped: the presses it took up to there, in the order it took them, far
      // enough apart that the relays' timing cannot swap two. Presses a few ms apart on different
      // relays can reach it in another order than the burst's, and a deadlock that needs that
      // order (the independent panel's: a pump started before a REACTOR_STOP pressed 2.5 ms
      // earlier) then fails once in many runs of the same burst, and `hil replay` passes it.
      const order = failure.facts.hung ? failure.facts.takenOrder : undefined;
      if (order !== undefined && order.length >= 2) out.push(inOrder(failed, order, Math.max(ORDER_GAP_MS, 1.5 * (failure.facts.paceMs ?? 0))));
      if (k + 1 < failed.length) out.push(keep(failed, (i) => i <= k));
      // A device that stopped (a hang, a crash) after refusing presses: the refused ones never
      // reached its processor, so the presses up to k without them bring its processor to the
      // same state, and with a queue that no longer overflows, the same failure without the race
      // of which press finds the queue full (the sim's stuck-processor, a dense burst: its shrunk
      // candidates failed once in three runs).
      const refused = new Set((failure.facts.refused ?? []).filter((i) => i < k));
      if (failure.facts.hung && refused.size > 0) {
        const without = keep(failed, (i) => i <= k && !refused.has(i));
        // At the dense times they had, the presses left can fill the queue again, and which of them
        // it refuses is then a race (the independent panel's deadlock: a counterexample that failed
        // again once, then passed five replays). Spaced at half again the processor's own pace, none
        // is refused, and the processor meets them in the order it met them when it stopped.
        const pace = failure.facts.paceMs;
        if (pace !== undefined) out.push(paced(without, 1.5 * pace));
        out.push(without);
      }
      // Never the failing value itself (already in the device's order and spacing, say): it would
      // be answered from its own run and fail again, and shrinking would go round on it for good.
      const same = JSON.stringify(failed);
      return out.filter((c) => JSON.stringify(c) !== same);
    },
    *smaller(value, failure) {
      // Drop leading presses, galloping: one first, twice as many as last time after a drop that
      // still failed. When dropping only the first press passes, that press is part of the cause,
      // and so dropping more from the front cannot fail either: a bug that needs a full queue
      // pays one run here, a cause far back in the burst is reached in a few doublings.
      const gallop = lastDrop?.value === value ? lastDrop.drop : 0;
      lastDrop = undefined;
      const facts = failure instanceof BurstFailure ? failure.facts : {};
      // After a stop, half first. A failing run of a hang costs its burst, the heartbeat's silence
      // and a recovery (2.5–7 s on the sim's panel, against 0.7–1 s for a run that passes), and
      // galloping from one press spent ten failing runs (50 s) on a 195-press candidate whose
      // cause was in its last 17. Half first reaches such a cause in halvings of ever shorter
      // bursts; a cause at the front costs one run that passes, and the gallop from one follows.
      const hangHalf = facts.hung === true && facts.queueFull !== true && value.length >= 8 ? Math.floor(value.length / 2) : 1;
      const drop = (d: number): BurstStep[] => {
        const c = keep(value, (i) => i >= d);
        lastDrop = { value: c, drop: d };
        return c;
      };
      if (value.length >= 2) {
        const first = gallop > 0 ? Math.max(1, Math.min(2 * gallop, Math.floor(value.length / 2))) : hangHalf;
        yield* andTightened(drop(first), failure);
        if (first > 1) yield* andTightened(drop(1), failure);
      }
      lastDrop = undefined;
      // Delta debugging over the presses before the last (the one the failure pointed at): drop
      // halves, quarters… single presses, each at its own time. A cause spread over the burst
      // (the reactor started early, the rod moved last) shrinks in about two runs a halving. On a
      // long candidate, only when the device stopped and its queue was not full by the failing
      // press: a failure that may need the full queue (a lost or refused event, a queue over its
      // bound) cannot fail in a candidate with a gap in it, and each costs a reset and a burst
      // (tried on every size, it spent a queue-bound bug's whole 180 s budget, 85 power cycles;
      // gated on the printed depth alone, it still took silent-drop to 89–127 s in 2 of 10 seeds,
      // as a racy q_put prints the depth after the processor took one). Capped at 48 presses for
      // every failure, it left hangs' guided counterexamples of 161–288 presses whole.
      if (value.length > DELTA_DEBUG_MAX && !(facts.hung === true && facts.queueFull !== true)) return;
      const last = value.length - 1;
      for (let size = Math.ceil(last / 2); size >= 1; size = size === 1 ? 0 : Math.ceil(size / 2)) {
        for (let from = 0; from < last; from += size) yield* andTightened(keep(value, (i) => i === last || i < from || i >= from + size), failure);
      }
    },
  };
}
