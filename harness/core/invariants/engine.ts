/**
 * The invariant engine: a state machine fed one observation at a time, in log order, plus
 * `tick(nowNs)` for deadlines. It never reads a clock and never subscribes to anything, so the
 * live monitor (monitor.ts) and an offline re-check of a recorded run (check.ts) drive the very
 * same code and get the same violations.
 *
 * It is a {@link Correlator} (correlator.ts: which device lines belong to which press, request and
 * queue event, whatever order they arrive in) and the rules registered in rules/index.ts, one per
 * file, each turning the correlator's facts into violations.
 */
import type { Observation } from '../observation.ts';
import { SOURCE } from '../topics.ts';
import { Correlator } from './correlator.ts';
import type { EpochFits } from './epoch-fits.ts';
import type { EventRecord, PressRecord, RequestRecord } from './records.ts';
import type { FactHandlers, FactName, Facts, Rule, RuleContext, RuleDefinition } from './rule.ts';
import { RULES } from './rules/index.ts';
import type { InvariantConfig, InvariantName, Violation, ViolationKind } from './types.ts';

export type { DevicePoint, EventOutcome, EventRecord, PressRecord, PressState, RequestRecord } from './records.ts';

export type ViolationListener = (v: Violation) => void;

/** See the file comment. */
export class InvariantEngine {
  readonly violations: Violation[] = [];
  private readonly keys = new Set<string>();
  private readonly listeners: ViolationListener[] = [];
  private readonly correlator: Correlator;
  private readonly rules: Rule[];
  private readonly handlers = new Map<FactName, Array<(f: never) => void>>();
  private lastIndex = -1;

  /** `rules`: the invariants to run (default: every registered one). */
  constructor(
    readonly config: InvariantConfig,
    rules: readonly RuleDefinition[] = RULES,
  ) {
    this.correlator = new Correlator(config, (name, fact) => this.dispatch(name, fact));
    const ctx: RuleContext = { config, correlator: this.correlator, report: (v) => this.report(v) };
    this.rules = rules.map((r) => r.create(ctx));
    for (const rule of this.rules) {
      for (const [name, fn] of Object.entries(rule.on) as Array<[FactName, (f: never) => void]>) {
        const list = this.handlers.get(name);
        if (list) list.push(fn);
        else this.handlers.set(name, [fn]);
      }
    }
  }

  private dispatch<N extends FactName>(name: N, fact: Facts[N]): void {
    const list = this.handlers.get(name) as Array<NonNullable<FactHandlers[N]>> | undefined;
    if (list) for (const fn of list) fn(fact);
  }

  /** Presses, in the order the harness made them (those before {@link retainFrom} and judged may be gone). */
  get presses(): PressRecord[] {
    return this.correlator.presses;
  }

  /** Device events (a press's, a request's), in the order they were first seen. */
  get events(): EventRecord[] {
    return this.correlator.events;
  }

  get requests(): Map<string, RequestRecord> {
    return this.correlator.requests;
  }

  /** Incremental per-boot clock fits, fed in log order. */
  get fits(): EpochFits {
    return this.correlator.fits;
  }

  /** Hear about each violation as it is found. Returns the unsubscribe. */
  onViolation(fn: ViolationListener): () => void {
    this.listeners.push(fn);
    return () => {
      const k = this.listeners.indexOf(fn);
      if (k >= 0) this.listeners.splice(k, 1);
    };
  }

  /** Newest host time seen (ns). */
  get latestT(): bigint {
    return this.correlator.now;
  }

  /** Index of the last observation fed. */
  get lastObserved(): number {
    return this.lastIndex;
  }

  private report(v: Omit<Violation, 'key'> & { key?: string }): void {
    const key = v.key ?? `${v.invariant}:${v.device}:${v.at}`;
    if (this.keys.has(key)) return;
    if (this.config.notJudged.some((n) => n.invariant === v.invariant && n.device === v.device)) return;
    this.keys.add(key);
    const full: Violation = { ...v, key };
    this.violations.push(full);
    for (const l of this.listeners) l(full);
  }

  /** The largest catch-up lag seen (ns) and the host time it was seen at; it wears off with time. */
  private lagNs = 0n;
  private lagAt = 0n;

  /**
   * How far behind its input the harness is reading, ns: a device line's arrival minus the time its
   * device printed it (its device time placed on the host clock by the boot's fit, before this
   * line joins it), the largest of the recent lines', less the time since. Near 0 while lines are
   * read as they come; after the harness was stalled (or a link held bytes back), it is the stall:
   * the other consoles' lines of that span may not be read yet, though they are waiting. Deadlines
   * an observation judges are held back by it, so one console's backlog cannot judge another's
   * evidence missing (a causality 'not shown' and a 'no edge' on a healthy bench, after a 550 ms
   * stall of a harness sharing its CPU with two busy loops). Timer ticks run after pending input is
   * read, and the end of a window judges everything, so nothing is left unjudged: only judged later.
   */
  private catchUp(o: Observation): bigint {
    const decayed = this.lagNs - (o.t - this.lagAt);
    let lag = decayed > 0n ? decayed : 0n;
    if (o.tDev !== undefined && o.kind !== 'boot') {
      const placed = this.correlator.fits.hostT(o.source, o.tDev);
      if (placed !== undefined) {
        const late = o.t - placed;
        if (late > lag) lag = late;
      }
    }
    if (lag !== decayed) {
      this.lagNs = lag;
      this.lagAt = o.t;
    }
    return lag;
  }

  /**
   * Feed one observation (in log order). Runs deadlines first, up to the time of the observations
   * before it: those are all in, while the rest of its own chunk (lines read together, stamped
   * with one time) is still to come. Judged up to its own time, the first line read after a stall
   * (of the harness, or of a USB link) made every other thread of the device look silent for the
   * stall, though their heartbeats were the next lines of the same chunk.
   */
  observe(o: Observation): void {
    const lag = this.catchUp(o);
    if (o.t > this.correlator.now) {
      const before = this.correlator.now;
      this.correlator.now = o.t;
      this.tick(before - lag);
    }
    this.lastIndex = o.i;
    if (o.source === SOURCE.invariants) return; // our own records: only their time counts
    this.correlator.observe(o);
  }

  /**
   * Run every deadline up to `nowNs` minus `settleMs` (lines received but not yet in the log
   * must not be missed). Call it from a timer live; observe() calls it itself.
   */
  tick(nowNs: bigint): void {
    const at = nowNs - BigInt(Math.round(this.config.settleMs * 1e6));
    this.correlator.tick(at);
    for (const r of this.rules) r.tick?.(at);
    this.correlator.prune(at);
  }

  /**
   * No window will ask about observations before `index` any more (the live monitor and `hil
   * check` say so as their windows close): the engine may drop records that are judged and lie
   * wholly before it, so a soak's memory stays flat. Never calling it keeps every record.
   */
  retainFrom(index: number): void {
    this.correlator.retainFrom(index);
  }
}

/** Kind names, re-exported for the report. */
export type { InvariantName, ViolationKind };
